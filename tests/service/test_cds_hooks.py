"""CDS Hooks 2.0 ``patient-view`` (service/cds), called the way an EHR calls it: discovery, a call signed
with the EHR's key (JWKS served over real HTTP) carrying prefetch, refused signatures and malformed calls.
Cards are checked field by field against the CDS Hooks 2.0 response ("Card attributes", "Source", "Link").
tests/integration/test_cds_hooks_fhir.py covers a call without prefetch (the service reads a FHIR server).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient

from mappings.bundle import episode_resources
from mappings.payload import episode_from_json
from service.app import create_app
from service.config import ConfigError, Settings
from tests.service.cds_client import AUD, ISS, SERVICE_PATH, Ehr, Jwks

ROOT = Path(__file__).resolve().parents[2]
INDICATORS = {"info", "warning", "critical"}


@pytest.fixture(scope="module")
def ehr() -> Iterator[Ehr]:
    client = Ehr()
    yield client
    client.jwks.close()


def cds_settings(database_url: str, jwks_url: str, **overrides: Any) -> Settings:
    return dataclasses.replace(Settings(database_url=database_url, auth_mode="none"),
                               cds_clients=json.dumps({ISS: [jwks_url]}), **overrides)


@pytest.fixture
def cds_app(tmp_path: Path, ehr: Ehr) -> Iterator[Flask]:
    app = create_app(cds_settings(f"sqlite:///{tmp_path}/etmi.db", ehr.jwks.url))
    yield app
    app.extensions["etmi"].store.close()


@pytest.fixture
def http(cds_app: Flask) -> FlaskClient:
    return cds_app.test_client()


# -- data as an EHR holds it ---------------------------------------------------------------------------
def ehr_resources(patient: str = "P-CDS-1", status: str = "active", function_after: float = 40,
                  phq2: tuple[str, str] = ("LA6569-3", "LA6568-5"),
                  gad2: tuple[str, str] = ("LA6569-3", "LA6568-5")) -> list[dict[str, Any]]:
    """The example episode mapped, changed to an active plan whose function fell from 48.5, as FHIR."""
    payload = json.loads((ROOT / "examples" / "episode.json").read_text())
    payload["episode_id"] = f"EP-CDS-{patient}"
    payload["patient"]["value"] = patient
    payload["status"] = status
    if status == "active":
        payload.pop("end", None)
    responses = {r["response_id"]: r for r in payload["responses"]}
    responses["discharge"]["answers"]["function.score"] = function_after
    responses["intake"]["answers"]["phq2.q1"], responses["intake"]["answers"]["phq2.q2"] = phq2
    responses["intake"]["answers"]["gad2.q1"], responses["intake"]["answers"]["gad2.q2"] = gad2
    from service.ig import load_package

    return episode_resources(episode_from_json(payload), load_package().questionnaires())


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}


def prefetch_of(resources: list[dict[str, Any]]) -> dict[str, Any]:
    outcome_codes = {"function-0-100", "55758-7", "gad2-total"}
    return {"etmiCarePlans": searchset([r for r in resources if r["resourceType"] == "CarePlan"]),
            "etmiOutcomes": searchset([r for r in resources if r["resourceType"] == "Observation"
                                       and r["code"]["coding"][0]["code"] in outcome_codes])}


def hook_request(prefetch: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/example", "patientId": "pat-1"}, **extra}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def call(http: FlaskClient, body: Any, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return http.post(SERVICE_PATH, data=data, headers=headers, content_type="application/json")


def assert_cds_card(card: dict[str, Any], launch: str = "http://localhost/clinician/launch") -> None:
    """The CDS Hooks 2.0 card fields: uuid, summary (<140), indicator, source.label, links."""
    assert str(uuid.UUID(card["uuid"])) == card["uuid"]
    assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
    assert card["indicator"] in INDICATORS
    assert isinstance(card["source"]["label"], str) and card["source"]["label"]
    assert isinstance(card.get("detail", ""), str)
    for link in card["links"]:
        assert set(link) <= {"label", "url", "type", "appContext"}
        assert link["label"] and link["type"] in ("absolute", "smart")
        assert link["url"] == launch and link["type"] == "smart"
        assert json.loads(link["appContext"]) == {"cdsService": "etmi-patient-view"}
    assert not {k for k, v in card.items() if v in (None, "", [], {})}  # CDS Hooks: no null/empty elements


# -- discovery -----------------------------------------------------------------------------------------
def test_discovery_lists_the_patient_view_service_with_its_prefetch_templates(http: FlaskClient) -> None:
    response = http.get("/cds-services")
    assert response.status_code == 200 and response.mimetype == "application/json"
    (service,) = response.get_json()["services"]
    assert service["hook"] == "patient-view" and service["id"] == "etmi-patient-view"
    assert service["description"] and service["title"]
    assert set(service["prefetch"]) == {"etmiCarePlans", "etmiOutcomes"}
    assert all(t.count("{{context.patientId}}") == 1 for t in service["prefetch"].values())
    assert service["prefetch"]["etmiOutcomes"].startswith("Observation?patient={{context.patientId}}&code=")


# -- signed calls with prefetch ------------------------------------------------------------------------
def test_signed_call_with_prefetch_gives_plan_and_function_cards(http: FlaskClient, ehr: Ehr) -> None:
    response = call(http, hook_request(prefetch_of(ehr_resources(function_after=40))), ehr.token())
    assert response.status_code == 200, response.get_data(as_text=True)
    cards = response.get_json()["cards"]
    for card in cards:
        assert_cds_card(card)
    by_indicator = {c["indicator"]: c for c in cards}
    assert len(cards) == 2 and set(by_indicator) == {"info", "warning"}
    assert "Active ETMI" in by_indicator["info"]["summary"]
    warning = by_indicator["warning"]
    assert "8.5 points" in warning["summary"] and "48.5 to 40" in warning["summary"]
    assert "beyond measurement error" in warning["detail"]


@pytest.mark.parametrize(("after", "card"), [(43.5, True), (43.6, False), (67, False)])
def test_function_card_from_a_fall_of_5_points_the_mcid(http: FlaskClient, ehr: Ehr, after: float,
                                                         card: bool) -> None:
    resources = ehr_resources(status="completed", function_after=after)
    response = call(http, hook_request(prefetch_of(resources)), ehr.token())
    cards = response.get_json()["cards"]
    assert [c["indicator"] for c in cards] == (["warning"] if card else [])  # completed plan: no info card


def test_positive_phq2_and_gad2_screens_are_warning_cards(http: FlaskClient, ehr: Ehr) -> None:
    resources = ehr_resources(status="completed", function_after=50, phq2=("LA6570-1", "LA6569-3"))
    cards = call(http, hook_request(prefetch_of(resources)), ehr.token()).get_json()["cards"]
    assert [c["summary"] for c in cards] == ["Positive PHQ-2 depression screen: 3 of 6 (3 or more), 2026-01-05"]
    assert_cds_card(cards[0])
    resources = ehr_resources(status="completed", function_after=50, gad2=("LA6570-1", "LA6570-1"))
    (card,) = call(http, hook_request(prefetch_of(resources)), ehr.token()).get_json()["cards"]
    assert card["summary"] == "Positive GAD-2 anxiety screen: 4 of 6 (3 or more), 2026-01-05"
    assert "check it before acting on it" in card["detail"] and card["indicator"] == "warning"
    below = ehr_resources(status="completed", function_after=50, phq2=("LA6569-3", "LA6569-3"))
    assert call(http, hook_request(prefetch_of(below)), ehr.token()).get_json()["cards"] == []  # 2: negative


def test_prefetch_with_no_data_gives_no_cards(http: FlaskClient, ehr: Ehr) -> None:
    response = call(http, hook_request({"etmiCarePlans": None, "etmiOutcomes": None}), ehr.token())
    assert response.status_code == 200 and response.get_json() == {"cards": []}


def test_no_prefetch_and_no_fhir_server_is_412(http: FlaskClient, ehr: Ehr) -> None:
    response = call(http, hook_request({"etmiCarePlans": None}), ehr.token())
    assert response.status_code == 412
    assert response.get_json()["path"] == "prefetch.etmiOutcomes"


# -- refused JWTs --------------------------------------------------------------------------------------
def refused(http: FlaskClient, token: str | None) -> dict[str, Any]:
    response = call(http, hook_request({"etmiCarePlans": None, "etmiOutcomes": None}), token)
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == "application/json" and response.headers["WWW-Authenticate"].startswith("Bearer")
    body: dict[str, Any] = response.get_json()
    assert body["error"] == "invalid_token" and body["path"] == "Authorization"
    return body


def test_a_bad_signature_is_refused(http: FlaskClient, ehr: Ehr) -> None:
    other = ec.generate_private_key(ec.SECP384R1())  # same kid, another key: a forged JWT
    assert "InvalidSignatureError" in refused(http, ehr.token(key=other))["message"]


def test_refused_jwts(http: FlaskClient, ehr: Ehr) -> None:
    refused(http, None)
    refused(http, "not-a-jwt")
    assert "iss" in refused(http, ehr.token(iss="https://other-ehr.example.test"))["message"]
    refused(http, ehr.token(aud="http://localhost/cds-services/another-service"))
    refused(http, ehr.token(exp=int(time.time()) - 3600))
    refused(http, jwt.encode({"iss": ISS, "aud": AUD, "exp": int(time.time()) + 60, "jti": "h"}, "s" * 32,
                             algorithm="HS256"))
    assert "jti" in refused(http, ehr.token(jti=""))["message"]


def test_a_replayed_jwt_is_refused(http: FlaskClient, ehr: Ehr) -> None:
    token = ehr.token()
    first = call(http, hook_request({"etmiCarePlans": None, "etmiOutcomes": None}), token)
    assert first.status_code == 200
    assert "replay" in refused(http, token)["message"]


def test_a_jku_outside_the_allowlist_is_refused_without_fetching_it(http: FlaskClient, ehr: Ehr) -> None:
    evil = Jwks(ehr.jwks.keys)
    try:
        body = refused(http, ehr.token(headers={"jku": evil.url}))
        assert "jku" in body["message"] and evil.fetches == 0
    finally:
        evil.close()
    ok = call(http, hook_request({"etmiCarePlans": None, "etmiOutcomes": None}),
              ehr.token(headers={"jku": ehr.jwks.url}))
    assert ok.status_code == 200


# -- malformed requests --------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "path"), [
    (lambda b: "{not json", "$"),
    (lambda b: [b], "$"),
    (lambda b: {**b, "hook": "order-sign"}, "hook"),
    (lambda b: {k: v for k, v in b.items() if k != "hookInstance"}, "hookInstance"),
    (lambda b: {**b, "context": {"userId": "Practitioner/x"}}, "context.patientId"),
    (lambda b: {**b, "context": {"patientId": "../Patient?x=1"}}, "context.patientId"),
    (lambda b: {**b, "prefetch": {"etmiOutcomes": "Observation?x"}}, "prefetch.etmiOutcomes"),
    (lambda b: {**b, "fhirAuthorization": {"access_token": "t", "token_type": "Bearer"}}, "fhirServer"),
    (lambda b: {**b, "fhirServer": "file:///etc/passwd"}, "fhirServer"),
    (lambda b: {**b, "fhirServer": "https://ehr.test/fhir", "fhirAuthorization": {"access_token": "t",
                                                                                 "token_type": "MAC"}},
     "fhirAuthorization.token_type"),
])
def test_malformed_requests_are_400_naming_the_element(http: FlaskClient, ehr: Ehr, change: Any, path: str) -> None:
    body = change(copy.deepcopy(hook_request({"etmiCarePlans": None, "etmiOutcomes": None})))
    response = call(http, body, ehr.token())
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_request" and response.get_json()["path"] == path


def test_malformed_cds_clients_setting_refuses_start(tmp_path: Path) -> None:
    for raw in ("{not json", '{"https://ehr": 5}', '["https://ehr"]', '{"https://ehr": ["ftp://x"]}'):
        with pytest.raises(ConfigError, match="ETMI_CDS_CLIENTS"):
            create_app(dataclasses.replace(Settings(database_url=f"sqlite:///{tmp_path}/x.db", auth_mode="none"),
                                           cds_clients=raw))


def test_settings_read_etmi_cds_clients() -> None:
    raw = json.dumps({ISS: "https://ehr.example.test/jwks.json"})
    assert Settings.from_env({"ETMI_CDS_CLIENTS": raw}).cds_clients == raw


def test_no_ehr_text_enters_a_card(http: FlaskClient, ehr: Ehr) -> None:
    resources = ehr_resources(status="completed", function_after=50, phq2=("LA6570-1", "LA6569-3"))
    for r in resources:
        if r["resourceType"] == "Observation":
            r["effectiveDateTime"] = "[click](https://evil.test) 2026-01-05"
    (card,) = call(http, hook_request(prefetch_of(resources)), ehr.token()).get_json()["cards"]
    assert card["summary"].endswith("an unknown date") and "evil" not in json.dumps(card)
