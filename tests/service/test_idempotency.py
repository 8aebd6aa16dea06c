"""``Idempotency-Key`` on whole-episode and part writes (sessions, goals, scores): a retry replays the
first answer and stores nothing more; a key is scoped to the caller and the path, so the same key sent
by another client, or to another episode or part, is a request of its own (never another's answer)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.app import create_app
from tests.service.conftest import make_settings, outcome_of
from tests.service.test_token_rejections import AUDIENCE, claims, issuer, sign, signing_key

__all__ = ["issuer", "signing_key"]  # fixtures used here

URL = "/api/v1/episodes/EP-2026-0001"


@pytest.fixture
def stored(client: FlaskClient, episode: dict[str, Any]) -> dict[str, Any]:
    """The example episode without its sessions, goals and scores, stored (with its answers: a write
    without intake answers answers with a warning that its replay leaves out today)."""
    base = {k: v for k, v in episode.items() if k not in ("sessions", "goals", "scores")}
    assert client.post("/api/v1/episodes", json=base).status_code == 201
    return episode


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def outbox(app: Flask) -> dict[str, int]:
    return dict(app.extensions["etmi"].store.outbox.counts())


def test_a_retried_session_post_replays_the_first_answer(app: Flask, client: FlaskClient,
                                                         stored: dict[str, Any]) -> None:
    session = stored["sessions"][0]
    first = client.post(f"{URL}/sessions", json=session, headers=key("s-1"))
    again = client.post(f"{URL}/sessions", json=session, headers=key("s-1"))
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert outbox(app) == {"pending": 2}
    other = dict(session, etmi_delivered=False)
    body = outcome_of(client.post(f"{URL}/sessions", json=other, headers=key("s-1")), 409)
    assert body["issue"][0]["expression"] == ["Idempotency-Key"]
    assert outbox(app) == {"pending": 2}


def test_keys_on_goal_and_score_writes(app: Flask, client: FlaskClient, stored: dict[str, Any]) -> None:
    goal = {k: v for k, v in stored["goals"][0].items() if k not in ("lifecycle_status", "achievement_status")}
    assert client.post(f"{URL}/goals", json=goal, headers=key("g-1")).status_code == 200
    edit = dict(goal, target_minutes_per_week=120)
    put = client.put(f"{URL}/goals/{goal['goal_id']}", json=edit, headers={**key("g-2"), "If-Match": 'W/"2"'})
    replay = client.put(f"{URL}/goals/{goal['goal_id']}", json=edit, headers={**key("g-2"), "If-Match": 'W/"2"'})
    assert (put.status_code, replay.status_code) == (200, 200), replay.get_data(as_text=True)
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.get_json()["version"] == 3
    scores = {"scores": stored["scores"]}
    batch = client.post(f"{URL}/outcome-scores/batch", json=scores, headers=key("b-1"))
    again = client.post(f"{URL}/outcome-scores/batch", json=scores, headers=key("b-1"))
    assert batch.get_json() == again.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert client.get(URL).get_json()["version"] == 4
    assert outbox(app) == {"pending": 4}


def test_one_key_on_two_paths_is_two_requests(app: Flask, client: FlaskClient, stored: dict[str, Any]) -> None:
    """The same key for a session and then for a score: each is written, neither is a 409 or a replay."""
    session = client.post(f"{URL}/sessions", json=stored["sessions"][0], headers=key("same"))
    score = client.post(f"{URL}/outcome-scores", json=stored["scores"][0], headers=key("same"))
    assert (session.status_code, score.status_code) == (200, 200), score.get_data(as_text=True)
    assert "Idempotent-Replayed" not in score.headers
    assert client.get(URL).get_json()["version"] == 3


def test_one_key_on_two_episodes_writes_both(client: FlaskClient, stored: dict[str, Any]) -> None:
    other = {k: v for k, v in copy.deepcopy(stored).items() if k not in ("sessions", "goals", "scores", "responses")}
    other.update(episode_id="EP-B", patient={"system": "urn:oid:2.16.840.1.113883.3.7777.1", "value": "P-B"})
    assert client.post("/api/v1/episodes", json=other).status_code == 201
    session = stored["sessions"][0]
    a = client.post(f"{URL}/sessions", json=session, headers=key("k"))
    b = client.post("/api/v1/episodes/EP-B/sessions", json=session, headers=key("k"))
    assert (a.status_code, b.status_code) == (200, 200)
    assert b.get_json()["episode_id"] == "EP-B" and "Idempotent-Replayed" not in b.headers
    assert len(client.get("/api/v1/episodes/EP-B").get_json()["episode"]["sessions"]) == 1


@pytest.fixture
def secured(issuer: str, tmp_path: Path) -> Iterator[FlaskClient]:
    settings = make_settings(f"sqlite:///{tmp_path / 'etmi.db'}", auth_mode="jwt", auth_issuer=issuer,
                             auth_audience=AUDIENCE)
    app = create_app(settings)
    yield app.test_client()
    app.extensions["etmi"].store.close()


def test_one_key_from_two_callers_is_two_requests(secured: FlaskClient, issuer: str, signing_key: Any,
                                                  episode: dict[str, Any]) -> None:
    """Client B never gets the answer stored for client A's key."""
    alice = {"Authorization": f"Bearer {sign(claims(issuer, sub='client-a', scope='user/*.cruds'), signing_key)}"}
    bob = {"Authorization": f"Bearer {sign(claims(issuer, sub='client-b', scope='user/*.cruds'), signing_key)}"}
    first = secured.post("/api/v1/episodes", json=episode, headers={**alice, **key("shared")})
    second = secured.post("/api/v1/episodes", json=episode, headers={**bob, **key("shared")})
    assert first.status_code == 201
    assert second.status_code == 200 and second.get_json()["outcome"] == "unchanged", second.get_data(as_text=True)
    assert "Idempotent-Replayed" not in second.headers
    replay = secured.post("/api/v1/episodes", json=episode, headers={**alice, **key("shared")})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
