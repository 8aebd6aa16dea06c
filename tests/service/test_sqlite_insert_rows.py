"""``db.insert_rows`` (the episode write's inserts on SQLite, inside the write lock, without SQLAlchemy's per-row
parameter handling) stores exactly what ``conn.execute(insert(table), rows)`` stores: the same values, read back
from SQLite as the driver returns them, for the resource, search-token and audit rows of an episode write
(JSON as an ``orjson.Fragment`` and as a dict, datetimes, booleans, NULLs); a column default it would leave out
goes the usual way. On PostgreSQL it is that ``execute``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Table, insert

from service.security.audit_event import AuditRecord
from service.store import Store, db, open_store
from service.store.audit import audit_rows
from service.store.models import AuditRow, FhirResourceRow, SearchToken

NOW = datetime(2026, 12, 4, 5, 40, 1, 250001)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, Path]]:
    store = open_store(f"sqlite:///{tmp_path / 'rows.db'}")
    yield store, tmp_path / "rows.db"
    store.close()


def _resources(tag: str) -> list[dict[str, Any]]:
    return [{"resource_type": "Goal", "resource_id": f"g{i}-{tag}", "version_id": i + 1, "current": i % 2 == 0,
             "patient_id": None if i == 2 else "p1", "status": "active", "date_low": None, "date_high": None,
             "last_updated": NOW, "resource": orjson.Fragment(orjson.dumps({"resourceType": "Goal", "n": i}))
             if i % 2 else {"resourceType": "Goal", "ü": "é", "n": i}, "resource_hash": f"h{i}"} for i in range(4)]


def _tokens(tag: str) -> list[dict[str, Any]]:
    return [{"resource_type": "Goal", "resource_id": f"g{i}-{tag}", "name": "code", "system": None if i else "s",
             "code": f"c{i}"} for i in range(3)]


def _audits(tag: str) -> list[dict[str, Any]]:
    return audit_rows([AuditRecord(at=NOW, actor="user", action="create", resource_type="Goal",
                                   resource_id=f"g{i}-{tag}", version_id=1, patient_id="p1", request_id="req")
                       for i in range(3)])


def _stored(database: Path, name: str, key: str, tag: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute(f"SELECT * FROM {name} WHERE {key} LIKE ? ORDER BY {key}", (f"%-{tag}",)).fetchall()
    return [tuple(str(v).replace(f"-{tag}", "") for v in row[1:]) for row in rows]  # the primary key left out


@pytest.mark.parametrize(("model", "rows", "key"), [(FhirResourceRow, _resources, "resource_id"),
                                                    (SearchToken, _tokens, "resource_id"),
                                                    (AuditRow, _audits, "resource_id")])
def test_insert_rows_stores_what_the_core_insert_stores(sqlite_store: tuple[Store, Path], model: Any,
                                                        rows: Any, key: str) -> None:
    store, database = sqlite_store
    target: Table = db.table(model)
    with db.transaction(store.sessions) as session:
        session.connection().execute(insert(target), rows("core"))
        db.insert_rows(session.connection(), target, rows("fast"))
    core, fast = _stored(database, target.name, key, "core"), _stored(database, target.name, key, "fast")
    assert fast == core and len(core) == len(rows("x"))


def test_a_column_default_goes_the_usual_way(sqlite_store: tuple[Store, Path]) -> None:
    store, database = sqlite_store
    rows = [{k: v for k, v in row.items() if k != "outcome"} for row in _audits("nodefault")]
    with db.transaction(store.sessions) as session:
        db.insert_rows(session.connection(), db.table(AuditRow), rows)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT outcome FROM audit WHERE resource_id LIKE '%-nodefault'").fetchall() == [("0",)] * 3
