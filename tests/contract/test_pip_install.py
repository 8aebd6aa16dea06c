"""``pip install .`` is enough: a fresh virtualenv, a clone of the repository, then ``etmi-fhir validate``.

The install is the Dockerfile's (the hashed lock file, then the project without resolving anything);
the clone is deleted before validating, so the guide comes from the installed package and the FHIR R4
definitions are fetched on first use into the user cache (a fresh ``HOME``), with a progress line.
Needs the network (registry.npmjs.org, repo1.maven.org) like the rest of the suite's first run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
EXAMPLE = "profiles/package/example/Goal-example-goal.json"


def test_pip_install_then_validate_with_no_other_step(tmp_path: Path) -> None:
    clone, venv, home = tmp_path / "clone", tmp_path / "venv", tmp_path / "home"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=300)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "pip"), "install", "-q"]
    for args in (["--require-hashes", "-r", "requirements.lock"], ["--no-deps", "--no-build-isolation", "."]):
        done = subprocess.run([*pip, *args], cwd=clone, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
    goal = json.loads((clone / EXAMPLE).read_text())
    (tmp_path / "goal.json").write_text(json.dumps(goal))
    del goal["target"]  # the ETMI goal profile requires a target: only the installed guide knows that
    (tmp_path / "no-target.json").write_text(json.dumps(goal))
    shutil.rmtree(clone)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETMI_")} | {"HOME": str(home)}
    cli = [str(venv / "bin" / "etmi-fhir"), "validate"]

    first = subprocess.run([*cli, "goal.json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "fetching the FHIR R4 definitions into" in first.stderr and "(100%)" in first.stderr
    issues = json.loads(first.stdout)["issue"]
    assert not [i for i in issues if i["severity"] in ("error", "fatal")]
    assert (home / ".cache" / "etmi-fhir" / "r4-4.0.1" / "profiles-resources.json").is_file()

    broken = subprocess.run([*cli, "no-target.json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert broken.returncode == 1 and "fetching" not in broken.stderr  # cached now
    assert any(i["severity"] == "error" and "Goal.target" in json.dumps(i) for i in json.loads(broken.stdout)["issue"])

    offline = env | {"HOME": str(tmp_path / "other-home"), "HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy":
                     "http://127.0.0.1:9"}
    refused = subprocess.run([*cli, "goal.json"], cwd=tmp_path, env=offline, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 2 and not refused.stdout
    assert "cannot fetch https://registry.npmjs.org/" in refused.stderr
    assert "connect to the internet once, or run scripts/r4-definitions" in refused.stderr
    assert not (tmp_path / "other-home" / ".cache" / "etmi-fhir" / "r4-4.0.1").exists()
