"""The hashed lock files match pyproject.toml, and every declared runtime dependency is used.

``scripts/test`` and the Dockerfile install only what the lock files pin (``--require-hashes``, then the
project with ``--no-deps``): a dependency added to pyproject.toml without running ``scripts/lock`` would
be missing on a fresh machine, so this test fails first and says what to run.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(r) for r in PYPROJECT["dependencies"]]
DEV = [Requirement(r) for r in PYPROJECT["optional-dependencies"]["dev"]]
#: declared but never imported by the service, and why
NOT_IMPORTED = {
    "fhir-core": "fhir.resources' base package, pinned to the range fhir.resources 8.x works with",
    "apispec": "flask-smorest builds the OpenAPI document with it; pinned for OpenAPI 3.1",
}
IMPORT_NAMES = {"pyjwt": "jwt", "fhir-resources": "fhir.resources"}


def pinned(lock: Path) -> dict[str, str]:
    """``{name: version}`` of a lock file; asserts every pin carries at least one sha256 hash."""
    text = lock.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    pins: dict[str, str] = {}
    for block in blocks:
        match = re.match(r"([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^\s;\\]+)", block)
        assert match, f"{lock.name}: not a pinned requirement: {block[:80]!r}"
        assert "--hash=sha256:" in block, f"{lock.name}: {match.group(1)} has no hash"
        pins[canonicalize_name(match.group(1))] = match.group(3)
    return pins


@pytest.mark.parametrize(("lock", "required"), [("requirements.lock", RUNTIME),
                                                ("requirements-dev.lock", RUNTIME + DEV)])
def test_lock_pins_every_declared_dependency_with_hashes(lock: str, required: list[Requirement]) -> None:
    pins = pinned(ROOT / lock)
    for requirement in required:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} lacks {requirement.name}: run scripts/lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, outside {requirement}: run scripts/lock")
    assert {"setuptools", "wheel"} <= set(pins), "the build backend is locked too (--no-build-isolation)"


def test_every_runtime_dependency_is_imported_or_explained() -> None:
    imported: set[str] = set()
    for path in [*ROOT.joinpath("service").rglob("*.py"), *ROOT.joinpath("mappings").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module)
    for requirement in RUNTIME:
        name = canonicalize_name(requirement.name)
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        used = any(m == module or m.startswith(module + ".") for m in imported)
        assert used or name in NOT_IMPORTED, f"{requirement.name} is declared but never imported: remove it"
        assert not (used and name in NOT_IMPORTED), f"{name} is imported now: drop it from NOT_IMPORTED"
