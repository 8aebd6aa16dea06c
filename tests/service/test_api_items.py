"""Episode parts written one at a time: sessions, responses, goals, scores, stage, patients."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mappings import canonical as c
from tests.service.conftest import outcome_of

URL = "/api/v1/episodes/EP-2026-0001"


@pytest.fixture
def stored(client: FlaskClient, episode: dict[str, Any]) -> dict[str, Any]:
    """The example episode without its sessions, goals and scores, stored."""
    base = {k: v for k, v in episode.items() if k not in ("sessions", "goals", "scores", "responses")}
    assert client.post("/api/v1/episodes", json=base).status_code == 201
    return episode


def _ok(response: Any, version: int) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert body["version"] == version
    return body


def test_sessions_are_added_once(app: Flask, client: FlaskClient, stored: dict[str, Any]) -> None:
    session = stored["sessions"][0]
    _ok(client.post(f"{URL}/sessions", json=session), 2)
    again = _ok(client.post(f"{URL}/sessions", json=session), 2)
    assert again["outcome"] == "unchanged"
    outcome_of(client.post(f"{URL}/sessions", json=dict(session, etmi_delivered=False)), 409)
    outcome_of(client.post("/api/v1/episodes/unknown/sessions", json=session), 404)
    assert app.extensions["etmi"].store.outbox.counts() == {"pending": 2}


def test_questionnaire_response_by_pinned_canonical(client: FlaskClient, stored: dict[str, Any]) -> None:
    intake = dict(stored["responses"][0], questionnaire=f"{c.ETMI_Q_INTAKE}|{c.QUESTIONNAIRE_VERSION}")
    body = _ok(client.post(f"{URL}/questionnaire-responses", json=intake), 2)
    types = {r["reference"].split("/")[0] for r in body["resources"] if r["changed"]}
    assert {"QuestionnaireResponse", "Observation"} <= types
    wrong_version = dict(intake, response_id="x", questionnaire=f"{c.ETMI_Q_INTAKE}|0.9")
    outcome_of(client.post(f"{URL}/questionnaire-responses", json=wrong_version), 422)
    unknown_item = dict(intake, response_id="y", answers={"no.such.item": 1})
    issues = outcome_of(client.post(f"{URL}/questionnaire-responses", json=unknown_item), 422)["issue"]
    assert any("no.such.item" in i["expression"][0] for i in issues)


def test_goal_create_update_and_status(client: FlaskClient, stored: dict[str, Any]) -> None:
    goal = {k: v for k, v in stored["goals"][0].items() if k not in ("lifecycle_status", "achievement_status")}
    goal["achievement_status"] = "in-progress"
    _ok(client.post(f"{URL}/goals", json=goal), 2)
    _ok(client.put(f"{URL}/goals/walk-150", json=dict(goal, target_minutes_per_week=120),
                   headers={"If-Match": 'W/"2"'}), 3)
    outcome_of(client.put(f"{URL}/goals/walk-150", json=goal, headers={"If-Match": 'W/"2"'}), 412)
    _ok(client.put(f"{URL}/goals/walk-150/status",
                   json={"lifecycle_status": "completed", "achievement_status": "achieved"}), 4)
    outcome_of(client.put(f"{URL}/goals/nope/status", json={"lifecycle_status": "completed"}), 404)
    outcome_of(client.put(f"{URL}/goals/walk-150/status", json={"lifecycle_status": "done"}), 422)
    goals = client.get(f"{URL}").get_json()["episode"]["goals"]
    assert goals == [dict(goal, target_minutes_per_week=120, lifecycle_status="completed",
                          achievement_status="achieved")]


def test_outcome_scores_single_and_batch(app: Flask, client: FlaskClient, stored: dict[str, Any]) -> None:
    first, second = stored["scores"]
    _ok(client.post(f"{URL}/outcome-scores", json=first), 2)
    body = _ok(client.post(f"{URL}/outcome-scores/batch", json={"scores": [first, second]}), 3)
    assert sum(r["changed"] for r in body["resources"]) == 1
    bad = {"scores": [dict(second, score_id="s3", value=999), dict(second, score_id="s4", kind="nope")]}
    issues = outcome_of(client.post(f"{URL}/outcome-scores/batch", json=bad), 422)["issue"]
    assert len(issues) >= 2
    assert client.get(URL).get_json()["version"] == 3


def test_stage_of_change(client: FlaskClient, stored: dict[str, Any]) -> None:
    stage = {"score_id": "stage-1", "stage": "preparation", "effective": "2026-01-05T09:00:00+02:00"}
    _ok(client.post(f"{URL}/stage-of-change", json=stage), 2)
    outcome_of(client.post(f"{URL}/stage-of-change", json=dict(stage, score_id="s2", stage="thinking")), 422)
    found = client.get("/fhir/Observation?code=" + f"{c.ETMI_CS_OBSERVATION}|{c.OBS_TTM_STAGE}").get_json()
    assert found["total"] == 1
    value = found["entry"][0]["resource"]["valueCodeableConcept"]["coding"][0]
    assert value["code"] == "preparation"


def test_patients_by_business_identifier(client: FlaskClient) -> None:
    ident = {"system": "urn:oid:1.2.3", "value": "P-9"}
    first = client.post("/api/v1/patients", json=ident)
    again = client.post("/api/v1/patients", json=ident)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    got = client.get(f"/api/v1/patients/{first.get_json()['id']}").get_json()
    assert got["value"] == "P-9" and got["episodes"] == []
    outcome_of(client.post("/api/v1/patients", json={"system": "x"}), 422)
    outcome_of(client.get("/api/v1/patients/unknown"), 404)
    patient = client.get(f"/fhir/Patient/{first.get_json()['id']}").get_json()
    assert patient["identifier"] == [ident] and set(patient) == {"resourceType", "id", "identifier", "meta"}


def test_audit_trail_says_who_changed_what(client: FlaskClient, stored: dict[str, Any]) -> None:
    _ok(client.post(f"{URL}/sessions", json=stored["sessions"][0]), 2)
    trail = client.get("/api/v1/audit?resource_type=Procedure").get_json()["entries"]
    assert [(e["actor"], e["action"], e["version_id"]) for e in trail] == [("dev-mode", "create", 1)]
    everything = client.get("/api/v1/audit?_count=500").get_json()["entries"]
    assert {e["resource_type"] for e in everything} >= {"Patient", "CarePlan", "Condition", "Procedure"}
    assert all(e["request_id"] for e in everything)
    outcome_of(client.get("/api/v1/audit?_count=many"), 400)
