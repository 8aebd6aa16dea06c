"""Writes that map fine but break the FHIR rules are refused by the validator itself: 422 naming the
element path, and nothing stored (no record, no resource, no outbox entry, no audit line).

``test_mapping_and_profile_issues_are_422`` (test_api_episodes.py) covers mapping errors; these payloads
pass the mapping and are caught only by the validation step of the write use-case.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mappings import canonical as c
from service.store.models import AuditRow, DomainRecord, FhirResourceRow
from tests.service.conftest import outcome_of

URL = "/api/v1/episodes/EP-2026-0001"


def stored(app: Flask) -> tuple[int, int, int, dict[str, int]]:
    store = app.extensions["etmi"].store
    with store.sessions() as session:
        counts = [session.scalar(select(func.count()).select_from(model)) or 0
                  for model in (DomainRecord, FhirResourceRow, AuditRow)]
    return counts[0], counts[1], counts[2], store.outbox.counts()


def paths(body: dict[str, Any]) -> list[str]:
    return [e for issue in body["issue"] for e in issue.get("expression", [])]


def test_a_patient_system_that_is_not_a_uri_is_422_at_its_path(app: Flask, client: FlaskClient,
                                                                episode: dict[str, Any]) -> None:
    bad = copy.deepcopy(episode)
    bad["patient"]["system"] = "not a uri"
    body = outcome_of(client.post("/api/v1/episodes", json=bad), 422)
    # the payload's own check (patient.system) or, behind it, the validator (the Patient's identifier)
    assert any(p == "patient.system" or p.endswith("resource.identifier[0].system") for p in paths(body)), paths(body)
    assert all(i["severity"] == "error" for i in body["issue"])
    assert any("not a uri" in i.get("diagnostics", "") for i in body["issue"])
    assert stored(app) == (0, 0, 0, {})


def test_an_answer_above_the_questionnaires_maximum_is_422_at_its_path(app: Flask, client: FlaskClient,
                                                                       episode: dict[str, Any]) -> None:
    bad = copy.deepcopy(episode)
    bad["responses"][0]["answers"]["beliefs.prognosis"] = 99
    body = outcome_of(client.post("/api/v1/episodes", json=bad), 422)
    assert any(".item[" in p and p.endswith(".answer[0]") for p in paths(body)), paths(body)
    assert any("99" in i.get("diagnostics", "") for i in body["issue"])
    assert stored(app) == (0, 0, 0, {})


def test_a_part_write_refused_by_the_validator_leaves_the_episode_as_it_was(
    app: Flask, client: FlaskClient, episode: dict[str, Any],
) -> None:
    base = {k: v for k, v in episode.items() if k != "responses"}
    assert client.post("/api/v1/episodes", json=base).status_code == 201
    before = stored(app)
    answers = copy.deepcopy(episode["responses"][0])
    answers["questionnaire"] = f"{c.ETMI_Q_INTAKE}|{c.QUESTIONNAIRE_VERSION}"
    answers["answers"]["beliefs.prognosis"] = 99
    body = outcome_of(client.post(f"{URL}/questionnaire-responses", json=answers), 422)
    assert any(p.endswith(".answer[0]") for p in paths(body)), paths(body)
    assert stored(app) == before
    assert client.get(URL).get_json()["version"] == 1
