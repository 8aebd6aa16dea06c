"""A request body is parsed once (Session 20, bench/profiles/ingest.md): the request guard's parse is what
``request.get_json()`` and the API's argument parser read (``service.fhir.parse.parsed_json``), where their
own parse of the same bytes gives the same value. Not timed: counts parses. And the same answers, with the
shared parse and without it, for bodies where the parsers could differ (UTF-16, a BOM, encoded surrogates,
other JSON media types)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.exceptions import UnsupportedMediaType

from service.api import routes_common
from service.app import create_app
from service.fhir import parse
from tests.service.conftest import make_settings
from tests.sync.support import unique_episode


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_episode_body_is_parsed_once(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    body = orjson.dumps(unique_episode(1, seed=25))
    parses: list[int] = []
    real = json.loads

    def counting(text: str | bytes, **kwargs: Any) -> Any:
        if text in (body, body.decode()):
            parses.append(1)
        return real(text, **kwargs)
    monkeypatch.setattr(json, "loads", counting)
    response = client.post("/api/v1/episodes", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert len(parses) == 1  # the guard's; the old code parsed it three times (guard, webargs, get_json)


PATIENT_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")  # the other ids: uuid5


def _odd_bodies() -> list[tuple[bytes, str]]:
    episode = unique_episode(2, seed=26)
    text = json.dumps(episode)
    goal = {"goal_id": "g-odd", "description": "Brisk walking é", "target_minutes_per_week": 150,
            "start": episode["start"]}
    return [
        (text.encode("utf-16"), "application/json"), (text.encode("utf-16-le"), "application/json"),
        (text.encode("utf-32"), "application/json"), (b"\xef\xbb\xbf" + text.encode(), "application/json"),
        (text.replace('"status"', '"st\\ud800atus"').encode(), "application/json"),
        (text.encode().replace(b"Brisk", b"Br\xed\xa0\x80sk"), "application/json"),
        (text.encode(), "application/merge-patch+json"), (text.encode(), "text/x+json"),
        (text.encode(), "application/json; charset=utf-8"), (json.dumps(goal).encode("utf-16"), "application/json"),
        (json.dumps(goal, ensure_ascii=False).encode(), "application/json"), (b"1\x00", "application/json"),
        (b'"x"', "application/json"), (b"[]", "application/json"), (b"null", "application/json"),
    ]


ODD = _odd_bodies()  # once: unique_episode's ids are random


def _answers(client: FlaskClient, stored: dict[str, Any]) -> list[tuple[int, bytes]]:
    """The answers to each odd body, on a fresh database holding ``stored`` (Patient ids, random per database,
    written P)."""
    assert client.post("/api/v1/episodes", json=stored).status_code == 201
    out = []
    for body, kind in ODD:
        for path in ("/api/v1/episodes", f"/api/v1/episodes/{stored['episode_id']}/goals"):
            response = client.post(path, data=body, headers={"Content-Type": kind})
            out.append((response.status_code, PATIENT_ID.sub(b"P", response.get_data())))
    return out


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_odd_bodies_get_the_same_answers_with_and_without_the_shared_parse(
        client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = unique_episode(3, seed=27)
    shared = _answers(client, stored)

    def own_parse(_req: Any, *, strict_utf8: bool = False) -> None:
        return None
    monkeypatch.setattr(parse, "parsed_json", own_parse)
    monkeypatch.setattr(routes_common, "parsed_json", own_parse)
    other = create_app(make_settings(f"sqlite:///{tmp_path / 'other.db'}"))
    try:
        alone = _answers(other.test_client(), stored)
    finally:
        other.extensions["etmi"].store.close()
    statuses = {status for status, _ in shared}
    assert statuses & {200, 201} and statuses - {200, 201}  # both kinds of answer are in the corpus
    assert alone == shared


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_get_json_answers_as_flask_for_a_body_flask_does_not_call_json(app: Flask) -> None:
    """``text/x+json``: the guard parses (and limits) it; Flask's ``get_json`` does not take it as JSON."""
    with app.test_request_context("/api/v1/episodes", method="POST", data=b'{"a": 1}',
                                  headers={"Content-Type": "text/x+json"}):
        parse.guard()
        assert parse.parsed_json(request) == ({"a": 1},)
        assert request.get_json(silent=True) is None
        with pytest.raises(UnsupportedMediaType):
            request.get_json()
        assert request.get_json(force=True) == {"a": 1}
    with app.test_request_context("/api/v1/episodes", method="POST", data=b'{"a": 1}',
                                  headers={"Content-Type": "application/json"}):
        parse.guard()
        assert request.get_json() is parse.parsed_json(request)[0]  # type: ignore[index]
