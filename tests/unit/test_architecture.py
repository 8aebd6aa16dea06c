"""Import rules that import-linter cannot state (the rest are contracts in ``.importlinter``, checked by
test_import_contracts.py): mappings uses only the standard library and no clock, randomness or I/O; no
HTTP client outside adapters, among those the graph cannot name; only config.py reads the environment; the
composition assigns no attribute onto what it built."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def top(module: str) -> str:
    return module.split(".")[0]


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", python_files("mappings"), ids=lambda p: p.name)
def test_mappings_are_pure(path: Path) -> None:
    """mappings/ imports only the standard library and itself: no I/O libraries, no service code."""
    foreign = {m for m in imported_modules(path) if top(m) not in sys.stdlib_module_names and top(m) != "mappings"}
    assert not foreign, f"{path.relative_to(ROOT)} imports {sorted(foreign)}"


@pytest.mark.parametrize("path", python_files("mappings"), ids=lambda p: p.name)
def test_mappings_have_no_clock_randomness_or_io(path: Path) -> None:
    banned = {"datetime", "time", "random", "secrets", "os", "io", "socket", "logging", "pathlib", "subprocess"}
    used = {top(m) for m in imported_modules(path)} & banned
    assert not used, f"{path.relative_to(ROOT)} imports {sorted(used)}: time and ids come in as arguments"


def test_only_adapters_do_network_io() -> None:
    """HTTP clients stay in service/adapters. ``requests`` and PyJWT are the "network-in-adapters" contract;
    here the ones import-linter cannot name: stdlib submodules and packages nobody imports yet."""
    offenders = [
        f"{p.relative_to(ROOT)}: {sorted(m)}"
        for p in python_files("service")
        if "adapters" not in p.parts
        and (m := {x for x in imported_modules(p)
                   if top(x) in {"urllib3", "httpx", "aiohttp"} or x in {"urllib.request", "http.client"}})
    ]
    assert not offenders, offenders


def test_only_config_reads_the_environment() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in python_files("service")
                 if p.name != "config.py" and ("os.environ" in p.read_text() or "getenv(" in p.read_text())]
    assert not offenders, f"only service/config.py may read the environment: {offenders}"


def test_the_composition_patches_nothing_onto_what_it_built() -> None:
    """``service/compose.py``, ``create_app`` and the sync commands hand ports in through constructors (the Puller's
    ``RemoteEditPort``, the sync state's): no ``obj.attr = ...`` onto an object after construction."""
    offenders = []
    for name in ("compose.py", "app.py", "commands/worker.py", "commands/sync.py"):
        path = ROOT / "service" / name
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            else:
                continue
            offenders += [f"{name}:{node.lineno}" for t in targets if isinstance(t, ast.Attribute)
                          and not (isinstance(t.value, ast.Name) and t.value.id == "self")]  # an object's own state
    assert not offenders, f"an attribute assigned after construction: {offenders}"
