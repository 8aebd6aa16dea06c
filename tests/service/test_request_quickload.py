"""The quick path of the episode schema accepts only what marshmallow accepts, and returns what it returns
(Session 20, bench/profiles/ingest.md; ``service/api/quickload.py``).

- Every payload of a corpus (valid episodes and, for each of their values, the value removed, replaced by a
  value of each JSON type and by edge strings and numbers, plus an unknown key at each level): the quick
  path either declines (``Unsure``) or returns marshmallow's result, value for value and key for key.
- Over HTTP, with the quick path and without it (marshmallow only): the same status and body for a corpus of
  bad payloads, and the same answer and stored payload for good ones.
- Not timed: a write checks the payload's limits and domain rules once (the old code did both twice).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

import mappings.payload
from service import limits
from service.api import quickload, schemas
from service.api.schemas import EpisodeSchema, PatientSchema, ScoreSchema
from service.episodes import checks
from tests.sync.support import unique_episode

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "episode.json"
SCHEMA = EpisodeSchema()
REPLACEMENTS: list[Any] = [None, True, False, 0, 1, -1, 1.5, 2.0, 2**31, 2**63, -(2**63) - 1, "", "x", "x\n",
                           "\x00", "a\ud800", "9" * 41, "é" * 2001, [], [1], ["x"], {}, {"x": 1}]


def _marshmallow(data: Any) -> tuple[str, Any]:
    try:
        return "ok", Schema.load(SCHEMA, data)  # marshmallow's own load, with the schema's hooks
    except ValidationError as err:
        return "error", err.messages


def _quick(data: Any) -> tuple[str, Any]:
    assert SCHEMA._quick is not None
    try:
        return "ok", EpisodeSchema._quick_load(SCHEMA._quick, data)
    except quickload.Unsure:
        return "unsure", None


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        yield from _paths(item, (*path, key))


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(data)
    if not path:
        return value
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return out


_DELETE = object()


def _every_field() -> dict[str, Any]:
    """The example with the optional fields it leaves out: activity statuses and a response's status."""
    data: dict[str, Any] = json.loads(EXAMPLE.read_text())
    data["activity_statuses"] = {"goal-setting": "in-progress", "postcard": "cancelled"}
    data["responses"][0]["status"] = "amended"
    data["episode_id"] += "-all"
    return data


VALID = [json.loads(EXAMPLE.read_text()), unique_episode(3, seed=20), unique_episode(4, seed=21),  # ids: random
         _every_field()]


def _valid() -> list[dict[str, Any]]:
    return copy.deepcopy(VALID)


def _variants() -> Iterator[Any]:
    for base in _valid():
        yield base
        for path in _paths(base):
            for value in [*REPLACEMENTS, _DELETE] if path else REPLACEMENTS:
                yield _set(base, path, value)
            if isinstance(_get(base, path), dict):
                yield _set(base, (*path, "unknown_key"), 1)


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def _same(data: Any) -> None:
    quick = _quick(data)
    if quick[0] == "unsure":
        return
    slow = _marshmallow(data)
    assert slow[0] == "ok", (data, slow)
    assert json.dumps(quick[1]) == json.dumps(slow[1])  # the same values in the same key order


def test_the_quick_path_takes_the_valid_episodes() -> None:
    for data in _valid():
        assert _quick(data) == _marshmallow(data)
        assert json.dumps(_quick(data)[1]) == json.dumps(_marshmallow(data)[1])


def test_the_quick_path_accepts_only_what_marshmallow_accepts_and_returns_the_same() -> None:
    seen = {"unsure": 0, "ok": 0}
    for data in _variants():
        _same(data)
        seen[_quick(data)[0]] += 1
    assert seen["unsure"] > 1000 and seen["ok"] > 50  # the corpus exercises both sides


JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner,
                                                                                           max_size=3)), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_value_anywhere_in_an_episode(data: st.DataObject) -> None:
    base = unique_episode(1, seed=22)
    paths = list(_paths(base))
    path = data.draw(st.sampled_from(paths))
    _same(_set(base, path, data.draw(JSON)))


PARTS: list[tuple[type[Schema], str]] = [
    (schemas.PatientSchema, "patient"), (schemas.SessionSchema, "sessions"), (schemas.ResponseSchema, "responses"),
    (schemas.GoalSchema, "goals"), (schemas.ScoreSchema, "scores"), (schemas.StageSchema, "stage"),
    (schemas.GoalStatusSchema, "goal_status"), (schemas.ScoreBatchSchema, "score_batch"),
    (schemas.QuestionnaireResponseIn, "questionnaire_response")]


def _examples(key: str) -> list[Any]:
    episode = VALID[0]
    found = {"stage": [{"score_id": "s1", "stage": "action", "effective": "2026-01-05T09:00:00+02:00"}],
             "goal_status": [{"lifecycle_status": "active", "achievement_status": "in-progress"}],
             "score_batch": [{"scores": episode["scores"][:2]}],
             "questionnaire_response": [{**episode["responses"][0], "questionnaire": "urn:x|1"}]}.get(key)
    if found is not None:
        return found
    value = episode[key]
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize(("schema_class", "key"), PARTS, ids=[k for _, k in PARTS])
def test_each_schema_alone_accepts_only_what_marshmallow_accepts(schema_class: type[Schema], key: str) -> None:
    """Without the episode's domain rules behind it: the fields' own quick checks."""
    schema = schema_class()
    quick = quickload.quick_loader(schema)
    assert quick is not None
    accepted = 0
    for base in _examples(key):
        for path in _paths(base):
            values = [*REPLACEMENTS, _DELETE] if path else [*REPLACEMENTS, base]
            variants = [_set(base, path, value) for value in values]
            if isinstance(_get(base, path), dict):
                variants.append(_set(base, (*path, "unknown_key"), 1))
            for data in variants:
                try:
                    out = quick(data)
                except quickload.Unsure:
                    continue
                accepted += 1
                assert json.dumps(out) == json.dumps(schema.load(data)), data  # raises if marshmallow refuses
        assert json.dumps(quick(base)) == json.dumps(schema.load(base))
    assert accepted > 0


def test_schemas_the_quick_path_does_not_know_get_none() -> None:
    from marshmallow import fields

    class Loose(Schema):
        n = fields.Integer()  # not strict: marshmallow turns "3" into 3

    class WithDefault(Schema):
        s = fields.String(load_default="x")

    assert quickload.quick_loader(Loose()) is None
    assert quickload.quick_loader(WithDefault()) is None
    assert quickload.quick_loader(EpisodeSchema()) is None  # hooks of its own, unless the caller runs them
    assert quickload.quick_loader(PatientSchema()) is not None
    assert quickload.quick_loader(ScoreSchema()) is not None


BAD: list[Any] = [
    {}, [], "x", 3, None, {"episode_id": "a b"},
    {"unknown": 1}, {"episode_id": "E", "patient": None},
]


def _bad_bodies() -> list[Any]:
    base = unique_episode(9, seed=23)
    bodies = [*BAD]
    for path in [p for p in _paths(base) if p][::3]:
        bodies += [_set(base, path, None), _set(base, path, "\x00"), _set(base, path, 2**63)]
    bodies += [_set(base, ("sessions",), base["sessions"] * 11), _set(base, ("start",), "2026-02-30")]
    return bodies


def _marshmallow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def decline(_quick: Any, _data: Any) -> dict[str, Any]:
        raise quickload.Unsure
    monkeypatch.setattr(EpisodeSchema, "_quick_load", staticmethod(decline))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_payloads_get_the_same_answers_with_and_without_the_quick_path(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = [orjson.dumps(b) for b in _bad_bodies()]
    headers = {"Content-Type": "application/json"}

    def answers() -> list[tuple[int, Any]]:
        out = []
        for body in bodies:
            response = client.post("/api/v1/episodes", data=body, headers=headers)
            assert 400 <= response.status_code < 500, response.get_data(as_text=True)
            out.append((response.status_code, response.get_json(force=True)))
        return out
    quick = answers()
    _marshmallow_only(monkeypatch)
    assert answers() == quick


def _writes(client: FlaskClient) -> list[tuple[int, bytes, bytes]]:
    """Create, replace and read each valid episode: statuses, bodies (the deployment's Patient ids, random per
    database, written as P) and ETags."""
    out = []
    for data in _valid():
        created = client.post("/api/v1/episodes", json=data)
        again = client.put(f"/api/v1/episodes/{data['episode_id']}", json=data)
        stored = client.get(f"/api/v1/episodes/{data['episode_id']}")
        patient = created.get_json()["patient_id"].encode()
        for response in (created, again, stored):
            assert response.status_code in (200, 201), response.get_data(as_text=True)
            out.append((response.status_code, response.get_data().replace(patient, b"P"),
                        response.headers.get("ETag", "").encode()))
    return out


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_good_payloads_are_stored_and_answered_the_same(app: Flask, client: FlaskClient, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.service.conftest import make_settings

    quick = _writes(client)
    _marshmallow_only(monkeypatch)
    from service.app import create_app

    other = create_app(make_settings(f"sqlite:///{tmp_path / 'other.db'}"))
    try:
        assert _writes(other.test_client()) == quick
    finally:
        other.extensions["etmi"].store.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_write_checks_the_payload_once(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    limited: list[str] = []
    real_parse, real_limits = mappings.payload.episode_from_json, limits.check_episode

    def parse(data: Any) -> Any:
        parsed.append(str(data.get("episode_id")))
        return real_parse(data)

    def check(data: Any) -> None:
        limited.append(str(data.get("episode_id")))
        real_limits(data)
    for module in ("service.api.schemas", "service.episodes.checks"):
        monkeypatch.setattr(f"{module}.episode_from_json", parse)
    monkeypatch.setattr(limits, "check_episode", check)
    data = unique_episode(11, seed=24)
    assert client.post("/api/v1/episodes", json=data).status_code == 201
    assert parsed == [data["episode_id"]]
    assert limited == [data["episode_id"]]
    assert checks._CHECKED.get() is None  # handed over and let go
