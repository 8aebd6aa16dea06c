"""The ``/api/v1`` request schemas are built once, at start-up, not per request (webargs instantiates a schema
*class* on every request, deep-copying its fields and nested schemas: 0.7 ms of a 27 ms episode write;
bench/profiles/ingest.md, Session 19). Not timed: counts schema constructions during requests."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import Schema

from tests.sync.support import unique_episode


def _requests(client: FlaskClient, n: int) -> list[int]:
    """A create, a replace, a patient registration and a goal added: the statuses."""
    payload = unique_episode(n, seed=19)
    episode_id = payload["episode_id"]
    answers = [
        client.post("/api/v1/episodes", json=payload),
        client.put(f"/api/v1/episodes/{episode_id}", json=payload),
        client.post("/api/v1/patients", json=payload["patient"]),
        client.post(f"/api/v1/episodes/{episode_id}/goals", json={
            "goal_id": "g-once", "description": "Brisk walking", "target_minutes_per_week": 150,
            "start": payload["start"]}),
    ]
    return [a.status_code for a in answers]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_schema_is_built_while_requests_are_answered(app: Flask, client: FlaskClient,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert _requests(client, 5) == [201, 200, 200, 200]  # the first requests may build nested schemas lazily
    built: list[str] = []
    original = Schema.__init__

    def counting(self: Schema, *args: Any, **kwargs: Any) -> None:
        built.append(type(self).__name__)
        original(self, *args, **kwargs)
    monkeypatch.setattr(Schema, "__init__", counting)
    assert _requests(client, 6) == [201, 200, 200, 200]
    assert built == []
