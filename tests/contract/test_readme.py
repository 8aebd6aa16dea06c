"""The README's main-job command, run as written: it prints the example episode's golden Bundle."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

from tests.conftest import ROOT


def test_the_readme_main_job_prints_the_golden_bundle() -> None:
    readme = (ROOT / "README.md").read_text()
    [command] = re.findall(r"^\.venv/bin/etmi-fhir map .+$", readme, flags=re.MULTILINE)
    done = subprocess.run(shlex.split(command), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = json.loads((ROOT / "tests" / "golden" / "expected" / "episode.bundle.json").read_text())
    assert json.loads(done.stdout) == expected
