"""The README's two commands, as written: ``./scripts/demo`` is the main job (run in a fresh clone by
tests/e2e/test_demo.py) and the ``etmi-fhir map`` example under Commands prints the golden Bundle."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess

from tests.conftest import ROOT


def section(readme: str, title: str) -> str:
    start = readme.index(f"## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start:end if end > 0 else None]


def test_the_two_commands_are_the_test_script_and_the_demo() -> None:
    commands = re.findall(r"```\n(.+?)\n```", section((ROOT / "README.md").read_text(), "Two commands"))
    assert commands == ["./scripts/test", "./scripts/demo"]
    for script in ("scripts/test", "scripts/demo"):
        assert os.access(ROOT / script, os.X_OK), script
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text(), "CI runs the README's test command"
    usage = subprocess.run(["./scripts/demo", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert usage.returncode == 0 and "--ehr hapi|medplum" in usage.stdout


def test_the_readme_map_example_prints_the_golden_bundle() -> None:
    readme = (ROOT / "README.md").read_text()
    [command] = re.findall(r"^\.venv/bin/etmi-fhir map .+$", section(readme, "Commands"), flags=re.MULTILINE)
    done = subprocess.run(shlex.split(command), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = json.loads((ROOT / "tests" / "golden" / "expected" / "episode.bundle.json").read_text())
    assert json.loads(done.stdout) == expected
