"""An episode write inside its lock runs Core statements only: no ORM object is built and nothing is flushed, the
outbox rows included (one ``INSERT .. RETURNING id`` for every target, ``outbox.enqueue_ids``). The ids the reply
names are the stored rows', in the order of the configured targets (bench/profiles/ingest.md, Session 20)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from service.app import create_app
from service.store.models import Base, OutboxRow
from tests.service.conftest import make_settings
from tests.sync.support import unique_episode

TARGETS = {"targets": {"ehr-b": {"base_url": "http://127.0.0.1:9/b"}, "ehr-a": {"base_url": "http://127.0.0.1:9/a"}}}


@pytest.fixture
def two_target_app(database_url: str) -> Iterator[Flask]:
    application = create_app(make_settings(database_url, sync_targets=json.dumps(TARGETS)))
    yield application
    application.extensions["etmi"].store.close()


def test_an_episode_write_builds_no_orm_object_and_flushes_nothing(two_target_app: Flask) -> None:
    client = two_target_app.test_client()
    assert client.post("/api/v1/episodes", json=unique_episode(1, seed=2020)).status_code == 201  # mints the id key
    built: list[str] = []
    flushed: list[int] = []

    def on_init(target: Any, _args: Any, _kwargs: Any) -> None:
        built.append(type(target).__name__)

    def on_flush(session: Session, _context: Any, _instances: Any) -> None:
        flushed.append(len(session.new))

    event.listen(Base, "init", on_init, propagate=True)
    event.listen(Session, "before_flush", on_flush)
    try:
        response = client.post("/api/v1/episodes", json=unique_episode(0, seed=2020))
    finally:
        event.remove(Base, "init", on_init)
        event.remove(Session, "before_flush", on_flush)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert built == [] and flushed == [], (built, flushed)
    body = response.get_json()
    with two_target_app.extensions["etmi"].store.sessions() as session:
        rows = session.execute(select(OutboxRow.id, OutboxRow.target, OutboxRow.local_id).order_by(OutboxRow.id)).all()
    assert [tuple(r) for r in rows][2:] == [(body["outbox_ids"][0], "ehr-b", body["episode_id"]),
                                        (body["outbox_ids"][1], "ehr-a", body["episode_id"])]
    assert body["outbox_id"] == body["outbox_ids"][0]
