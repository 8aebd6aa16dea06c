"""Hostile input never gets a 500: each input that did (issue 11) is a 2xx or a 4xx OperationOutcome naming
the parameter or path, on SQLite and on PostgreSQL (``service.limits`` and ``service.fhir.parse``)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from service import limits
from service.app import create_app
from service.compose import remote_edits
from service.sync.pull import hand_over
from tests.service.conftest import make_settings, outcome_of
from tests.service.test_token_rejections import AUDIENCE, claims, issuer, sign, signing_key  # noqa: F401

BIG = "99999999999999999999999"  # beyond 64 bits


@pytest.fixture
def stored(client: FlaskClient, episode: dict[str, Any]) -> str:
    response = client.post("/api/v1/episodes", json=episode)
    assert response.status_code == 201, response.get_data(as_text=True)
    patient_id: str = response.get_json()["patient_id"]
    return patient_id


def _named(body: dict[str, Any], name: str) -> None:
    expressions = [e for issue in body["issue"] for e in issue.get("expression", [])]
    assert any(name in e for e in expressions), (name, body)


@pytest.mark.parametrize("query", [
    "date=9999-12-31", "_lastUpdated=9999-12-31", "date=9999-12-31T23:00:00-14:00",
    "_lastUpdated=9999-12-31T23:00:00-14:00", "date=0001-01-01T00:00:00%2B14:00", "date=le0001-01-01",
    "_lastUpdated=2026-01-05T10:00:60Z", "date=2026-01-05T23:59:60%2B01:00", "date=ge9999",
])
def test_dates_at_the_edge_of_the_calendar_are_searchable(client: FlaskClient, stored: str, query: str) -> None:
    response = client.get(f"/fhir/Observation?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json(force=True)["resourceType"] == "Bundle"


@pytest.mark.parametrize(("url", "name"), [
    ("/fhir/Observation?_count=%C2%B2", "_count"), (f"/fhir/Observation?_count={BIG}", "_count"),
    ("/fhir/Observation?_offset=%D9%A3", "_offset"), (f"/fhir/Observation?_offset={BIG}", "_offset"),
    ("/fhir/Observation?date=%D9%A2%D9%A0%D9%A2%D9%A6", "date"),
    ("/fhir/Observation?date=2026-01-05T10:00:61Z", "date"),
    ("/fhir/Observation?date=2026-01-05T10:00:00%2B15:00", "date"),
    ("/api/v1/audit?_count=%C2%B2", "_count"), (f"/api/v1/audit?_count={BIG}", "_count"),
    ("/api/v1/outbox?_count=%C2%B2", "_count"), (f"/api/v1/outbox?_count={BIG}", "_count"),
    ("/fhir/Observation?_id=a%00b", "_id"), ("/api/v1/audit?actor=a%00b", "actor"),
    ("/fhir/Patient?identifier=" + "x" * 256, "identifier"), ("/fhir/Observation?_id=" + "x" * 65, "_id"),
    ("/fhir/Observation?patient=" + "x" * 65, "patient"),
    ("/api/v1/episodes/EP%00", "path"), ("/fhir/Patient/a%00b", "path"),
])
def test_numbers_and_ids_outside_their_range_are_400(client: FlaskClient, stored: str, url: str, name: str) -> None:
    _named(outcome_of(client.get(url), 400), name)


@pytest.mark.parametrize("version", ["%C2%B2", BIG, "0", "-1"])
def test_vread_of_an_impossible_version_is_404(client: FlaskClient, stored: str, version: str) -> None:
    outcome_of(client.get(f"/fhir/Patient/{stored}/_history/{version}"), 404)


@pytest.mark.parametrize("etag", [f'W/"{BIG}"', 'W/"\u00b2"', 'W/"0"', "*"])
def test_if_match_outside_the_version_range_is_400(client: FlaskClient, stored: str, episode: dict[str, Any],
                                                     etag: str) -> None:
    response = client.put(f"/api/v1/episodes/{episode['episode_id']}", json=episode,
                          headers={"If-Match": etag.encode().decode("latin-1")})
    _named(outcome_of(response, 400), "If-Match")


def test_outbox_replay_ids_beyond_the_column_are_422(client: FlaskClient) -> None:
    _named(outcome_of(client.post("/api/v1/outbox/replay", json={"ids": [2**31]}), 422), "ids")
    _named(outcome_of(client.post("/api/v1/outbox/replay", data=f'{{"ids": [{BIG}]}}',
                                  content_type="application/json"), 400), "ids[0]")


@pytest.mark.parametrize("target", ["/api/v1/episodes", "/api/v1/patients", "/fhir/$validate"])
@pytest.mark.parametrize(("body", "name"), [
    ('{"resourceType": "Patient", "episode_id": "\\ud800"}', "episode_id"),
    ('{"resourceType": "Patient", "x": ' + "[" * 100 + "]" * 100 + "}", "x[0]"),
    ("[" * 5000 + "]" * 5000, "body"),
    ('{"resourceType": "Patient", "value": NaN}', "body"),
    ('{"resourceType": "Patient", "value": "a\\u0000b"}', "value"),
])
def test_bodies_outside_the_json_limits_are_400(client: FlaskClient, target: str, body: str, name: str) -> None:
    _named(outcome_of(client.post(target, data=body, content_type="application/json"), 400), name)


@pytest.mark.parametrize(("patient", "path"), [
    ({"system": "urn:oid:1.2.3", "value": "x" * 256}, "value"), ({"system": "s" * 256, "value": "P-1"}, "system"),
    ({"system": "urn:oid:1.2.3", "value": ""}, "value"),
])
def test_identifiers_longer_than_their_column_are_refused(client: FlaskClient, episode: dict[str, Any],
                                                            patient: dict[str, str], path: str) -> None:
    _named(outcome_of(client.post("/api/v1/patients", json=patient), 422), path)
    episode["patient"] = patient
    _named(outcome_of(client.post("/api/v1/episodes", json=episode), 422), f"patient.{path}")


def test_payload_lists_have_limits(client: FlaskClient, episode: dict[str, Any]) -> None:
    score = episode["scores"][0]
    many = [{**score, "score_id": f"S-{i}"} for i in range(limits.EPISODE_LISTS["scores"] + 1)]
    _named(outcome_of(client.post("/api/v1/episodes", json={**episode, "scores": many}), 422), "scores")
    sessions = [{**episode["sessions"][0], "number": i} for i in range(1, limits.EPISODE_LISTS["sessions"] + 2)]
    _named(outcome_of(client.post("/api/v1/episodes", json={**episode, "sessions": sessions}), 422), "sessions")
    goal = {**episode["goals"][0], "description": "x" * (limits.TEXT_MAX + 1)}
    _named(outcome_of(client.post("/api/v1/episodes", json={**episode, "goals": [goal]}), 422), "description")


def test_an_item_added_past_the_limit_is_422(client: FlaskClient, episode: dict[str, Any],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The amend path (one score at a time) meets the same limit as a whole episode."""
    assert client.post("/api/v1/episodes", json=episode).status_code == 201
    monkeypatch.setitem(limits.EPISODE_LISTS, "scores", len(episode["scores"]))
    score = {**episode["scores"][0], "score_id": "S-extra"}
    body = outcome_of(client.post(f"/api/v1/episodes/{episode['episode_id']}/outcome-scores", json=score), 422)
    _named(body, "scores")
    assert client.get(f"/api/v1/episodes/{episode['episode_id']}").get_json()["version"] == 1


@pytest.mark.parametrize(("where", "value"), [
    ("start", "9999-12-31"), ("performed", "9999-12-31T23:00:00-14:00"), ("performed", "0001-01-01T00:00:00+14:00"),
    ("performed", "2026-01-05T10:00:60+01:00"),
])
def test_payload_dates_at_the_edge_are_stored_or_refused_never_500(client: FlaskClient, episode: dict[str, Any],
                                                                    where: str, value: str) -> None:
    changed = copy.deepcopy(episode)
    if where == "start":
        changed["start"] = changed["end"] = value
    else:
        changed["sessions"][0]["performed"] = value
    response = client.post("/api/v1/episodes", data=json.dumps(changed), content_type="application/json")
    assert response.status_code in (201, 422), response.get_data(as_text=True)


def test_date_ranges_are_clamped_to_the_calendar() -> None:
    assert limits.date_range("9999-12-31") == ("9999-12-31T00:00:00.000000", "9999-12-31T23:59:59.999999")
    assert limits.date_range("9999-12-31T23:00:00-14:00")[1] == "9999-12-31T23:59:59.999999"
    assert limits.date_range("0001-01-01T00:00:00+14:00")[0] == "0001-01-01T00:00:00.000000"
    assert limits.date_range("2026-01-05T23:59:60Z") == ("2026-01-05T23:59:59.999999",) * 2
    assert limits.date_range("2024-02") == ("2024-02-01T00:00:00.000000", "2024-02-29T23:59:59.999999")
    for bad in ("2026-02-30", "٢٠٢٦", "2026-0²", "2026-01-05T10:00:00+14:30", "2026-01-05T24:00:00Z"):
        with pytest.raises(limits.LimitError):
            limits.date_range(bad, "date")


@pytest.mark.parametrize("claim", [{"sub": "s" * 256}, {"sub": "a\x00b"}, {"patient": "p" * 65},
                                   {"patient": "p\x00"}, {"client_id": "c" * 256, "sub": None}])
def test_token_claims_beyond_their_columns_never_get_a_500(database_url: str, issuer: str,  # noqa: F811
                                                          signing_key: Any,  # noqa: F811
                                                          claim: dict[str, Any]) -> None:
    """The subject, client and patient of a token are audited (``audit.actor`` 255, ``patient_id`` 64)."""
    app = create_app(make_settings(database_url, auth_mode="jwt", auth_issuer=issuer, auth_audience=AUDIENCE))
    token = sign(claims(issuer, scope="user/*.cruds system/*.rs patient/*.rs", **claim), signing_key)
    client = app.test_client()
    try:
        for url in ("/fhir/Observation", "/api/v1/audit", "/api/v1/episodes/none"):
            response = client.get(url, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code < 500, response.get_data(as_text=True)
    finally:
        app.extensions["etmi"].store.close()


@pytest.mark.parametrize("shape", [{"responses": -1.5}, {"goals": "x"}, {"responses": [1, {"answers": 3}]},
                                   {"goals": [None]}, {"patient": [1]}, {"scores": {"a": 1}}])
def test_payload_limits_meet_any_shape_before_the_schema(client: FlaskClient, episode: dict[str, Any],
                                                         shape: dict[str, Any]) -> None:
    """The size check runs before the schema (found by schemathesis: ``"responses": -1.6e-157`` was a 500)."""
    outcome_of(client.post("/api/v1/episodes", json={**episode, **shape}), 422)


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream"])
def test_validate_reads_any_content_type_through_the_same_limits(client: FlaskClient, content_type: str) -> None:
    deep = '{"resourceType": "Patient", "extension": [' + '{"url": "u", "extension": [' * 40 + "]}" * 40 + "]}"
    _named(outcome_of(client.post("/fhir/$validate", data=deep, content_type=content_type), 400), "extension")
    surrogate = '{"resourceType": "Patient", "id": "\\ud800"}'
    _named(outcome_of(client.post("/fhir/$validate", data=surrogate, content_type=content_type), 400), "id")


@pytest.mark.parametrize("text", ["x" * (limits.TEXT_MAX + 1), "walk\x00daily"])
def test_an_ehr_edit_beyond_the_limits_is_not_applied(client: FlaskClient, episode: dict[str, Any],
                                                      text: str) -> None:
    """A pulled Goal edit meets the payload limits as a 422 (not applied, logged), never an exception."""
    assert client.post("/api/v1/episodes", json=episode).status_code == 201
    goal = dict(client.get("/fhir/Goal").get_json(force=True)["entry"][0]["resource"])
    goal["description"] = {"text": text}
    app = client.application
    assert hand_over(remote_edits(app.extensions["etmi"]), "ehr", goal) is False
    stored = client.get(f"/api/v1/episodes/{episode['episode_id']}").get_json()
    assert stored["version"] == 1 and stored["episode"]["goals"][0]["description"] != text
