"""Drift check: rebuilding the guide from profiles/input/fsh gives exactly the committed package.

Runs profiles/build (Node 20 + npm: it installs the pinned SUSHI and FHIR definitions itself)."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.contract.ig import PACKAGE, ROOT

BUILD = ROOT / "profiles" / "build"


def relative_files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_rebuild_matches_committed_package(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("profiles/build needs Node 20 and npm")
    out = tmp_path / "package"
    done = subprocess.run([str(BUILD), "--out", str(out)], capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    committed, rebuilt = relative_files(PACKAGE), relative_files(out)
    assert rebuilt == committed, f"only committed: {committed - rebuilt}; only rebuilt: {rebuilt - committed}"
    changed = sorted(f for f in committed if not filecmp.cmp(PACKAGE / f, out / f, shallow=False))
    assert not changed, f"profiles/package is stale, run profiles/build: {changed}"


@pytest.mark.slow
def test_build_publishes_under_another_canonical(tmp_path: Path) -> None:
    base = "https://fhir.example.com/etmi"
    out = tmp_path / "package"
    done = subprocess.run(
        [str(BUILD), "--out", str(out), "--canonical", base], capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    text = "".join(p.read_text(encoding="utf-8") for p in out.rglob("*.json"))
    assert "etmi.example.org" not in text
    assert f'"url": "{base}/StructureDefinition/etmi-observation-pain"' in text
