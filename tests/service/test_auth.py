"""Bearer tokens from the real SMART authorization server; scopes and the patient compartment."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mappings.canonical import TEST_ID_KEY
from mappings.domain import PatientRef
from mappings.refs import patient_id
from service.app import create_app
from service.security import Forbidden, Principal, parse_scopes
from service.store.models import AuditRow
from tests.integration.test_smart_support import (
    authorize,
    backend_token,
    client_assertion,
    encode_launch,
    exchange_code,
    launch_params,
    new_key,
    pkce_pair,
    public_jwk,
    register_app_client,
    register_backend_client,
    smart_configuration,
)
from tests.service.conftest import make_settings, outcome_of


def test_scopes_v1_and_v2_and_patient_limit() -> None:
    scopes = parse_scopes("launch openid patient/*.rs user/Goal.cruds system/Observation.read bogus/x.rs "
                          "patient/Observation.rs?code=1")
    who = Principal("u", tuple(scopes), patient="p1")
    assert who.patient_limit("Observation", "r") is None  # system/Observation.read
    assert who.patient_limit("CarePlan", "s") == "p1"
    assert who.patient_limit("Goal", "u") is None
    with pytest.raises(Forbidden):
        who.patient_limit("CarePlan", "c")
    with pytest.raises(Forbidden):
        Principal("u", tuple(parse_scopes("patient/*.rs"))).patient_limit("Goal", "r")  # no patient claim


@pytest.fixture(scope="module")
def tokens(smart_url: str) -> dict[str, str]:
    """Access tokens: system/*.rs and user/*.cruds (backend), patient/*.rs for patient "pat-A" (launch)."""
    config = smart_configuration(smart_url)
    key = new_key("ES384")
    client_id = register_backend_client(smart_url, "ES384", jwks={"keys": [public_jwk(key, "k1", "ES384")]})
    out = {}
    for name, scope in (("system", "system/*.rs"), ("user", "user/*.cruds")):
        response = backend_token(config["token_endpoint"], client_assertion(
            client_id, config["token_endpoint"], key, "ES384", "k1"), scope)
        assert response.status_code == 200, response.text
        out[name] = response.json()["access_token"]
    app_client = register_app_client(smart_url)
    verifier, challenge = pkce_pair()
    params = launch_params(app_client, f"{smart_url}/fhir", challenge, launch=encode_launch(PATIENT_A))
    callback = authorize(config["authorization_endpoint"], params)
    response = exchange_code(config["token_endpoint"], app_client, callback["code"], verifier)
    assert response.status_code == 200, response.text
    out["patient"] = response.json()["access_token"]
    return out


# the local Patient id of business identifier (urn:oid:2.16.840.1.113883.3.7777.1, P-000123) under the test key,
# which the ``secured`` app is given as ETMI_ID_KEY
PATIENT_A = patient_id(PatientRef("urn:oid:2.16.840.1.113883.3.7777.1", "P-000123"))


@pytest.fixture
def secured(smart_url: str, tmp_path: Path) -> Iterator[Flask]:
    settings = make_settings(f"sqlite:///{tmp_path / 'etmi.db'}", auth_mode="jwt", auth_issuer=smart_url,
                             auth_audience=f"{smart_url}/fhir", id_key=TEST_ID_KEY.decode())
    application = create_app(settings)
    yield application
    application.extensions["etmi"].store.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.smart
def test_tokens_scopes_and_compartment(secured: Flask, tokens: dict[str, str], episode: dict[str, Any]) -> None:
    client: FlaskClient = secured.test_client()
    body = outcome_of(client.get("/fhir/Observation"), 401)
    assert body["issue"][0]["code"] == "login"
    outcome_of(client.get("/fhir/Observation", headers=_auth("not.a.jwt")), 401)
    outcome_of(client.get("/fhir/Observation", headers={"Authorization": "Basic eDp5"}), 401)
    outcome_of(client.post("/api/v1/episodes", json=episode, headers=_auth(tokens["system"])), 403)
    assert client.post("/api/v1/episodes", json=episode, headers=_auth(tokens["user"])).status_code == 201
    other = copy.deepcopy(episode)
    other.update(episode_id="EP-B", patient={"system": "urn:oid:2.16.840.1.113883.3.7777.1", "value": "P-B"})
    other_id = client.post("/api/v1/episodes", json=other, headers=_auth(tokens["user"])).get_json()["patient_id"]
    all_plans = client.get("/fhir/CarePlan", headers=_auth(tokens["system"])).get_json(force=True)
    assert all_plans["total"] == 2
    mine = client.get("/fhir/CarePlan", headers=_auth(tokens["patient"])).get_json(force=True)
    assert mine["total"] == 1 and mine["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{PATIENT_A}"
    # another patient's data is answered as if it did not exist (no 403 that would confirm it does)
    other_plans = client.get(f"/fhir/CarePlan?patient={other_id}", headers=_auth(tokens["patient"]))
    assert other_plans.status_code == 200 and other_plans.get_json(force=True)["total"] == 0
    outcome_of(client.get(f"/fhir/Patient/{other_id}", headers=_auth(tokens["patient"])), 404)
    assert client.get(f"/fhir/Patient/{PATIENT_A}", headers=_auth(tokens["patient"])).status_code == 200
    outcome_of(client.get("/api/v1/episodes/EP-B", headers=_auth(tokens["patient"])), 404)
    outcome_of(client.post("/api/v1/episodes/EP-2026-0001/sessions", json=episode["sessions"][0],
                           headers=_auth(tokens["patient"])), 403)
    outcome_of(client.get("/api/v1/outbox", headers=_auth(tokens["patient"])), 403)
    outcome_of(client.get("/api/v1/audit", headers=_auth(tokens["patient"])), 403)
    assert client.get("/api/v1/outbox", headers=_auth(tokens["system"])).status_code == 200
    assert client.get("/fhir/metadata").status_code == 200  # public
    with secured.extensions["etmi"].store.sessions() as session:
        writers = set(session.scalars(select(AuditRow.actor).where(AuditRow.action.in_(("create", "update")),
                                                                   AuditRow.outcome == "0")))
        denied = set(session.scalars(select(AuditRow.actor).where(AuditRow.outcome == "4")))
    assert len(writers) == 1 and writers != {"dev-mode"}  # the token's subject (the backend client)
    assert denied, "the refusals are in the audit trail"
    assert client.get("/healthz").status_code == 200


@pytest.mark.smart
def test_token_for_another_audience_is_401(smart_url: str, tokens: dict[str, str], tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'etmi.db'}", auth_mode="jwt", auth_issuer=smart_url,
                             auth_audience="https://elsewhere.example/fhir")
    application = create_app(settings)
    try:
        outcome_of(application.test_client().get("/fhir/Goal", headers=_auth(tokens["system"])), 401)
    finally:
        application.extensions["etmi"].store.close()
