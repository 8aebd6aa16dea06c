"""What keeps ``etmi-fhir import`` linear in the file's size (bench/profiles/import.md), checked without timing:
every lookup of the write pass on SQLite finds its rows by key (not by scanning every current resource of
a type), and the validator's memo stays bounded with compact keys whatever the number of values seen."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from service.cli import main
from service.store import open_store
from service.store.db import transaction, utcnow
from service.store.models import FhirResourceRow
from service.store.resources import save_resources
from service.validation import default_engine
from service.validation.walker import MEMO_LIMIT

SYS = "urn:oid:2.16.840.1.113883.3.7777.1"
HEADER = "patient_system,patient_id,date,function,pain,stage,session,etmi\n"


def registry(path: Path, first: int, patients: int, month: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for n in range(first, first + patients):
            out.write(f"{SYS},SCALE-{n},2026-{month:02d}-{1 + n % 28:02d},{40 + n % 50},{n % 11},action,1,true\n")
            out.write(f"{SYS},SCALE-{n},2026-{month + 1:02d}-{1 + n % 28:02d},{50 + n % 50},{n % 7},maintenance,2,"
                      "false\n")
    return path


def test_the_write_pass_finds_current_versions_by_key_not_by_type(tmp_path: Path) -> None:
    """On the old code each write looked up the current versions through ix_fhir_resource_current
    (resource_type, current): a scan of every current Observation stored so far, per patient."""
    url = f"sqlite:///{tmp_path / 'etmi.db'}"
    assert main(["import", str(registry(tmp_path / "a.csv", 0, 40, 1)), "--database-url", url, "--quiet"]) == 0
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not executemany and "fhir_resource" in statement and not statement.lstrip().startswith("INSERT"):
            statements.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", keep)
    try:  # new patients and new rows of known ones: lookups, versions replaced, tokens deleted
        assert main(["import", str(registry(tmp_path / "b.csv", 36, 6, 3)), "--database-url", url, "--quiet"]) == 0
    finally:
        event.remove(Engine, "before_cursor_execute", keep)
    assert any("UPDATE fhir_resource" in s for s, _ in statements), "no version was replaced: the test lost its aim"
    with sqlite3.connect(tmp_path / "etmi.db") as db:
        for statement, parameters in statements:
            plan = [row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            lookups = [line for line in plan if "fhir_resource" in line]
            assert lookups, (statement, plan)
            for line in lookups:
                assert not line.startswith("SCAN") and "ix_fhir_resource_current" not in line, (statement, plan)


def test_saving_new_versions_needs_no_statistics(tmp_path: Path) -> None:
    """The store's own lookups (an API write, not only the import) use the key on a database never
    analysed: the old query (``... AND current``) went through ix_fhir_resource_current."""
    url = f"sqlite:///{tmp_path / 'etmi.db'}"
    store = open_store(url)
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not executemany and "fhir_resource" in statement and not statement.lstrip().startswith("INSERT"):
            statements.append((statement, parameters))

    def basic(n: int, text: str) -> dict[str, Any]:
        return {"resourceType": "Basic", "id": f"b{n}", "code": {"text": text}}

    try:
        for round_, text in enumerate(("one", "two", "two")):
            with transaction(store.sessions) as session:
                if round_ == 2:
                    event.listen(store.engine, "before_cursor_execute", keep)
                saved = save_resources(session, [basic(n, text if n < 5 else "one") for n in range(40)], utcnow())
        event.remove(store.engine, "before_cursor_execute", keep)
        assert [s.version_id for s in saved[:6]] == [2, 2, 2, 2, 2, 1]
        with transaction(store.sessions) as session:  # one current version each, the latest
            rows = session.execute(select(FhirResourceRow.resource_id, FhirResourceRow.version_id).where(
                FhirResourceRow.current)).all()
        assert sorted(rows) == sorted([(f"b{n}", 2 if n < 5 else 1) for n in range(40)])
        with transaction(store.sessions) as session:
            event.listen(store.engine, "before_cursor_execute", keep)
            save_resources(session, [basic(n, "three") for n in range(3)], utcnow())
        event.remove(store.engine, "before_cursor_execute", keep)
    finally:
        store.close()
    assert any(s.startswith("UPDATE fhir_resource") for s, _ in statements), statements
    with sqlite3.connect(tmp_path / "etmi.db") as db:
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0] == 0
        for statement, parameters in statements:
            plan = [row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            for line in plan:
                assert not line.startswith("SCAN") and "ix_fhir_resource_current" not in line, (statement, plan)


@pytest.mark.usefixtures("r4_definitions")
def test_the_validator_memo_is_bounded_and_its_keys_are_compact() -> None:
    """The old memo held up to 50,000 keys of orjson bytes, each keeping a 4 KiB buffer (about 200 MiB)."""
    engine = default_engine()
    for n in range(MEMO_LIMIT + 500):
        outcome = engine.validate({"resourceType": "Basic", "code": {"text": "scale"},
                                   "identifier": [{"system": SYS, "value": f"MEMO-{n}"}]})
        assert not [i for i in outcome.get("issue", []) if i["severity"] == "error"], outcome
    memo = engine.memo
    assert MEMO_LIMIT // 2 <= len(memo) <= MEMO_LIMIT
    assert any(b"MEMO-" in key[2] for key in memo)
    assert max(key[2].__sizeof__() for key in memo) < 1024  # the exact bytes, not orjson's buffer
    kept = [key[2] for key in memo if b'"text":"scale"' in key[2]]
    assert kept, "the value seen on every call was dropped: the memo does not keep the recently used"
