"""Fixtures of the validator tests: the R4 definitions cache (fetched once if missing) and an engine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from service.validation import Engine
from service.validation.definitions import DefinitionsMissing, core_dir
from tests.validation import fixtures

ROOT = Path(__file__).resolve().parents[2]


def ensure_definitions() -> None:
    try:
        core_dir()
    except DefinitionsMissing:
        subprocess.run([str(ROOT / "scripts" / "r4-definitions")], check=True)


@pytest.fixture(scope="session")
def engine() -> Engine:
    ensure_definitions()
    built = Engine()
    built.add(fixtures.questionnaire())
    return built
