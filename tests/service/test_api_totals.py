"""The API refuses totals their items do not give and answers to items that are not asked: 422 naming
the payload path, nothing stored; a total is never stored from partial items.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mappings import canonical as c
from service.store.models import DomainRecord, FhirResourceRow
from tests.service.conftest import outcome_of

URL = "/api/v1/episodes/EP-2026-0001"


def counts(app: Flask) -> tuple[int, int]:
    with app.extensions["etmi"].store.sessions() as session:
        return (session.scalar(select(func.count()).select_from(DomainRecord)) or 0,
                session.scalar(select(func.count()).select_from(FhirResourceRow)) or 0)


def test_phq2_total_with_a_missing_item_is_422_at_its_path(app: Flask, client: FlaskClient,
                                                           episode: dict[str, Any]) -> None:
    bad = copy.deepcopy(episode)
    answers = bad["responses"][0]["answers"]
    answers.pop("phq2.q2")
    answers["phq2.total"] = 6
    body = outcome_of(client.post("/api/v1/episodes", json=bad), 422)
    [issue] = [i for i in body["issue"] if i["expression"] == ["responses[0].answers.phq2.total"]]
    assert issue["severity"] == "error" and "missing: phq2.q2" in issue["diagnostics"]
    assert counts(app) == (0, 0)


def test_work_items_of_a_patient_who_does_not_work_are_422(client: FlaskClient, episode: dict[str, Any]) -> None:
    base = {k: v for k, v in episode.items() if k not in ("sessions", "goals", "scores", "responses")}
    assert client.post("/api/v1/episodes", json=base).status_code == 201
    intake = dict(episode["responses"][0], questionnaire=f"{c.ETMI_Q_INTAKE}|{c.QUESTIONNAIRE_VERSION}")
    intake["answers"] = dict(intake["answers"], **{"work.employed": False})
    body = outcome_of(client.post(f"{URL}/questionnaire-responses", json=intake), 422)
    named = {e for i in body["issue"] for e in i["expression"]}
    assert {f"answers.fabq.w{n}" for n in range(6, 17)} <= {p.split("].", 1)[-1] for p in named}, named


def test_no_total_is_stored_from_partial_items(client: FlaskClient, episode: dict[str, Any]) -> None:
    base = {k: v for k, v in episode.items() if k not in ("sessions", "goals", "scores", "responses")}
    assert client.post("/api/v1/episodes", json=base).status_code == 201
    intake = dict(episode["responses"][0], questionnaire=f"{c.ETMI_Q_INTAKE}|{c.QUESTIONNAIRE_VERSION}")
    intake["answers"] = {k: v for k, v in intake["answers"].items() if k not in ("phq2.q2", "fabq.pa3")}
    response = client.post(f"{URL}/questionnaire-responses", json=intake)
    assert response.status_code == 200, response.get_data(as_text=True)
    stored = client.get("/fhir/Observation?_count=500").get_json()["entry"]
    codes = {cd["code"] for e in stored for cd in e["resource"]["code"]["coding"]}
    assert "72514-3" in codes  # the pain item was extracted
    assert not codes & {"55758-7", c.OBS_FABQ_PA}, codes  # no PHQ-2 or FABQ-PA total from partial items
