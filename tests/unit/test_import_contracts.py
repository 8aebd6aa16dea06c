"""The import rules of ``.importlinter`` (layers, the pure mappings, network code only in adapters, sync on
ports, fhir/ apart from api/, api/ and fhir/ without SQLAlchemy, the episode use-cases without frameworks, no
cycles anywhere in service/ and mappings/) hold: import-linter checks them on the import graph, TYPE_CHECKING
imports included."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_the_import_contracts_hold() -> None:
    assert LINT_IMPORTS.is_file(), "import-linter is a dev dependency: ./scripts/test installs it"
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-8000:]
    found = re.search(r"Contracts: (\d+) kept, (\d+) broken", report)
    assert found and int(found.group(1)) >= 9 and found.group(2) == "0", report[-3000:]
    flat = " ".join(report.split())
    for name in ("service.fhir (the read-only facade) imports nothing of service.api",
                 "service.api and service.fhir are transport: they import no SQLAlchemy",
                 "service.episodes (the use-cases) import neither Flask nor SQLAlchemy",
                 "no import cycle between sibling modules anywhere in service/ and mappings/"):
        kept = name in flat and "KEPT" in flat.split(name, 1)[1][:120]
        assert kept, f"{name!r} is not checked: {report[-3000:]}"
