"""What an episode write does under its write lock (on SQLite one writer at a time holds it): the resources'
content hashes, search index and JSON are computed before ``unit()`` (``EpisodeStore.prepare``), the stored
JSON is byte for byte what serialising the versioned resource gives, and the patient is registered in one
statement (bench/profiles/ingest.md, Session 19). Not timed: the tests watch calls and statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import pairwise
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from service.store import Store, prepared
from service.store.episodes import SqlUnit
from service.store.models import FhirResourceRow, SearchToken
from service.store.resources import content_hash, save_resources
from tests.sync.support import unique_episode

NOW = datetime(2026, 12, 3, 23, 30, 1, 250000)

SHAPES: list[dict[str, Any]] = [
    {"resourceType": "Observation", "id": "o1", "status": "final", "meta": {"profile": ["http://x/p"]},
     "code": {"coding": [{"system": "http://loinc.org", "code": "82290-8"}]}, "valueInteger": 150},
    {"resourceType": "Goal", "id": "g1", "lifecycleStatus": "active"},  # no meta: it goes last
    {"meta": {"versionId": "7", "lastUpdated": "2020-01-01T00:00:00Z", "tag": [{"code": "t"}]},
     "resourceType": "Patient", "id": "p1"},  # meta first, stale version replaced in place
    {"resourceType": "Procedure", "id": "pr1", "meta": {}},  # meta last
    {"resourceType": "Condition", "id": "c1", "meta": None, "subject": {"reference": "Patient/p1"}},
]


@pytest.mark.parametrize("resource", SHAPES, ids=[r["resourceType"] for r in SHAPES])
def test_the_prepared_json_is_the_versioned_resource_byte_for_byte(resource: dict[str, Any]) -> None:
    item = prepared.prepare_one(resource)
    versioned = {**resource, "meta": {**(resource.get("meta") or {}), "versionId": "3",
                                      "lastUpdated": "2026-12-03T23:30:01.250Z"}}
    assert orjson.dumps(item.stored(3, "2026-12-03T23:30:01.250Z")) == orjson.dumps(versioned)
    assert item.digest == content_hash(resource) and item.resource is resource


def test_prepared_and_plain_batches_store_the_same_rows(store: Store) -> None:
    rows = []
    for suffix in ("-plain", "-prepared"):
        renamed = [{**r, "id": r["id"] + suffix} for r in SHAPES]
        with store.sessions() as session, session.begin():
            save_resources(session, renamed if suffix == "-plain" else prepared.prepare(renamed), NOW)
        with store.sessions() as session:
            stored = session.scalars(select(FhirResourceRow).where(FhirResourceRow.resource_id.like(f"%{suffix}"))
                                     .order_by(FhirResourceRow.resource_id)).all()
            tokens = session.execute(select(SearchToken.name, SearchToken.system, SearchToken.code)
                                     .where(SearchToken.resource_id.like(f"%{suffix}"))).all()
            rows.append(([{**r.resource, "id": r.resource["id"].removesuffix(suffix)} for r in stored],
                         [(r.patient_id or "").removesuffix(suffix) for r in stored], sorted(tokens)))
        assert [r.resource_hash for r in stored] == [content_hash(r) for r in sorted(renamed, key=lambda r: r["id"])]
    assert rows[0] == rows[1]
    assert rows[0][0][0]["meta"] == {"versionId": "1", "lastUpdated": "2026-12-03T23:30:01.250Z"}


@contextmanager
def watched(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of the per-resource computations that ran while a write unit (the write lock) was open."""
    inside = [False]
    under_lock: list[str] = []
    for name in ("content_hash", "index_resource"):
        original = getattr(prepared, name)

        def spy(resource: dict[str, Any], _original: Any = original, _name: str = name) -> Any:
            if inside[0]:
                under_lock.append(_name)
            return _original(resource)
        monkeypatch.setattr(prepared, name, spy)
    original_init = SqlUnit.__init__

    def enter(self: SqlUnit, session: Any) -> None:
        inside[0] = True
        original_init(self, session)
    monkeypatch.setattr(SqlUnit, "__init__", enter)
    try:
        yield under_lock
    finally:
        inside[0] = False


def test_an_episode_write_hashes_and_indexes_before_the_write_lock(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    with watched(monkeypatch) as under_lock:
        response = client.post("/api/v1/episodes", json=unique_episode(1, seed=19))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert len(response.get_json()["resources"]) > 20
    assert under_lock == []


def test_a_patient_is_registered_in_one_statement(app: Flask, client: FlaskClient) -> None:
    seen: list[str] = []
    payload = unique_episode(2, seed=19)

    def keep(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        if any(a in ("FROM", "INTO", "UPDATE") and b == "patient" for a, b in pairwise(words)):
            seen.append(" ".join(words[:3]))

    assert client.post("/api/v1/episodes", json=unique_episode(3, seed=19)).status_code == 201  # mints the id key
    engine = app.extensions["etmi"].store.engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        first = client.post("/api/v1/episodes", json=payload)
        again = client.post("/api/v1/patients", json=payload["patient"])
        new = client.post("/api/v1/patients", json={"system": "urn:oid:1.2.3", "value": "S19-new"})
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert (first.status_code, again.status_code, new.status_code) == (201, 200, 201), new.get_data(as_text=True)
    assert seen == ["INSERT INTO patient"] * 3, seen  # no lookup first; the second does nothing
