"""A gunicorn worker of ``etmi-fhir serve`` loads its app through ``worker_app``, which tunes the garbage
collector (start-up objects frozen, young collections ``GC_GEN0`` allocations apart) and the GIL's switch
interval (``SWITCH_INTERVAL``). Probed in a fresh interpreter (the settings are process-wide); not timed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from service.commands.serve import GC_GEN0, SWITCH_INTERVAL

PROBE = r"""
import gc, sys
from service.commands.serve import worker_app
from service.config import Settings
before = gc.get_threshold()
switch = sys.getswitchinterval()
app = worker_app(Settings.from_env())
assert app.name
print(before[0], gc.get_threshold()[0], gc.get_threshold()[1:] == before[1:], gc.get_freeze_count(),
      switch, sys.getswitchinterval())
"""


def test_worker_app_tunes_the_collector_and_the_switch_interval(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETMI_")}
    env.update(ETMI_AUTH_MODE="none", ETMI_DATABASE_URL=f"sqlite:///{tmp_path / 'e.db'}")
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    default, tuned, older_kept, frozen, switch, switched = done.stdout.split()
    assert (int(default), int(tuned), older_kept) == (700, GC_GEN0, "True")
    assert int(frozen) > 50_000  # the definitions, validator and schemas create_app built
    assert (float(switch), float(switched)) == (0.005, SWITCH_INTERVAL)
