"""Clinical rules seen through the API: the write's OperationOutcome of warnings, and the Goal's history.

- A low back pain episode shorter than 3 months is accepted, coded low back pain (not chronic), and the
  write's answer carries an OperationOutcome with a warning naming the intake answer (issue 10 item 3).
- A session log that agrees a new weekly target updates Goal.target: the Goal gets a new version and
  its history shows both targets (issue 10 item 7).
"""

from __future__ import annotations

import copy
from typing import Any

from flask.testing import FlaskClient

from mappings import canonical as c

URL = "/api/v1/episodes/EP-2026-0001"


def _fhir(client: FlaskClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json(force=True)
    return body


def _only(client: FlaskClient, rtype: str, patient: str) -> list[dict[str, Any]]:
    bundle = _fhir(client, f"/fhir/{rtype}?patient={patient}")
    return [e["resource"] for e in bundle["entry"]]


def test_a_short_episode_is_accepted_with_a_warning(client: FlaskClient, episode: dict[str, Any]) -> None:
    short = copy.deepcopy(episode)
    short["responses"][0]["answers"]["lbp.duration"] = "lt-6wk"
    response = client.post("/api/v1/episodes", json=short)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    [warning] = [i for i in body["issues"]["issue"] if i["severity"] == "warning"]
    assert body["issues"]["resourceType"] == "OperationOutcome"
    assert warning["expression"] == ["responses[0].answers.lbp.duration"]
    conditions = _only(client, "Condition", body["patient_id"])
    lbp = [r for r in conditions if r["meta"]["profile"] == [c.ETMI_SD_CONDITION_CLBP]]
    assert [r["code"]["coding"][0]["code"] for r in lbp] == ["279039007"]


def test_a_chronic_episode_has_no_warning(client: FlaskClient, episode: dict[str, Any]) -> None:
    body = client.post("/api/v1/episodes", json=episode).get_json()
    assert not [i for i in body.get("issues", {}).get("issue", []) if i["severity"] == "warning"]


def test_a_later_session_target_gives_the_goal_a_new_version(client: FlaskClient, episode: dict[str, Any]) -> None:
    first = client.post("/api/v1/episodes", json=episode)
    assert first.status_code == 201, first.get_data(as_text=True)
    [goal] = _only(client, "Goal", first.get_json()["patient_id"])
    before = goal["target"][0]["detailQuantity"]["value"]
    log = {"response_id": "session-3-log", "questionnaire": f"{c.ETMI_Q_SESSION}|{c.QUESTIONNAIRE_VERSION}",
           "authored": "2026-02-02T10:20:00+02:00",
           "answers": {"session.number": 3, "session.goal_minutes_week": before + 30}}
    answer = client.post(f"{URL}/questionnaire-responses", json=log)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert f"Goal/{goal['id']}" in {r["reference"] for r in answer.get_json()["resources"] if r["changed"]}
    current = _fhir(client, f"/fhir/Goal/{goal['id']}")
    assert current["target"][0]["detailQuantity"]["value"] == before + 30
    history = _fhir(client, f"/fhir/Goal/{goal['id']}/_history")
    targets = {e["resource"]["meta"]["versionId"]: e["resource"]["target"][0]["detailQuantity"]["value"]
               for e in history["entry"]}
    assert targets == {"1": before, "2": before + 30}
