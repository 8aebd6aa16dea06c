"""SMART App Launch v2 (EHR launch, public client, PKCE S256) driven headlessly with requests."""

from __future__ import annotations

import pytest
import requests

from tests.integration.test_smart_support import (
    REDIRECT_URI,
    authorize,
    encode_launch,
    exchange_code,
    launch_params,
    pkce_pair,
    register_app_client,
    smart_configuration,
    unverified_claims,
)

pytestmark = pytest.mark.smart


@pytest.fixture(scope="module")
def config(smart_url: str) -> dict[str, str]:
    return smart_configuration(smart_url)


@pytest.fixture(scope="module")
def app_client(smart_url: str) -> str:
    return register_app_client(smart_url)


@pytest.fixture(scope="module")
def fhir_base(smart_url: str) -> str:
    # the server's default audience when started without FHIR_BASE
    return f"{smart_url}/fhir"


def test_smart_configuration_advertises_app_launch(config: dict[str, str], smart_url: str) -> None:
    assert config["authorization_endpoint"] == f"{smart_url}/auth"
    for capability in ("launch-ehr", "client-public", "context-ehr-patient", "sso-openid-connect", "permission-v2"):
        assert capability in config["capabilities"]
    fhir = requests.get(f"{smart_url}/fhir/.well-known/smart-configuration", timeout=10)
    assert fhir.json()["token_endpoint"] == config["token_endpoint"]


def test_ehr_launch_with_pkce(config: dict[str, str], app_client: str, fhir_base: str) -> None:
    verifier, challenge = pkce_pair()
    params = launch_params(app_client, fhir_base, challenge, launch=encode_launch("pat-123", "enc-9"),
                           scope="launch openid fhirUser offline_access patient/*.rs")
    callback = authorize(config["authorization_endpoint"], params)
    assert callback["state"] == params["state"]
    assert "code" in callback, callback
    response = exchange_code(config["token_endpoint"], app_client, callback["code"], verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["patient"] == "pat-123"
    assert body["encounter"] == "enc-9"
    assert body["need_patient_banner"] is False
    assert {"launch", "openid", "fhirUser", "patient/*.rs"} <= set(body["scope"].split())
    id_token = unverified_claims(body["id_token"])
    assert id_token["fhirUser"] == f"{fhir_base}/Practitioner/practitioner-1"
    assert id_token["aud"] == app_client
    access = unverified_claims(body["access_token"])
    assert access["aud"] == fhir_base
    assert access["patient"] == "pat-123"
    assert "patient/*.rs" in access["scope"].split()
    refreshed = requests.post(config["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": app_client}, timeout=10)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["patient"] == "pat-123"


def test_ehr_launch_with_a_registered_launch_id(smart_url: str, config: dict[str, str], app_client: str,
                                                fhir_base: str) -> None:
    launch = requests.post(f"{smart_url}/admin/launches", json={"patient": "pat-7"}, timeout=10).json()["launch"]
    verifier, challenge = pkce_pair()
    params = launch_params(app_client, fhir_base, challenge, launch=launch)
    callback = authorize(config["authorization_endpoint"], params)
    body = exchange_code(config["token_endpoint"], app_client, callback["code"], verifier).json()
    assert body["patient"] == "pat-7"
    assert "encounter" not in body


def test_authorize_without_pkce_is_refused(config: dict[str, str], app_client: str, fhir_base: str) -> None:
    params = launch_params(app_client, fhir_base, None, launch=encode_launch("pat-123"))
    callback = authorize(config["authorization_endpoint"], params)
    assert callback["error"] == "invalid_request"
    assert "code" not in callback


def test_wrong_code_verifier_is_refused(config: dict[str, str], app_client: str, fhir_base: str) -> None:
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    callback = authorize(config["authorization_endpoint"],
                         launch_params(app_client, fhir_base, challenge, launch=encode_launch("pat-123")))
    response = exchange_code(config["token_endpoint"], app_client, callback["code"], other_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_cannot_be_used_twice(config: dict[str, str], app_client: str, fhir_base: str) -> None:
    verifier, challenge = pkce_pair()
    callback = authorize(config["authorization_endpoint"],
                         launch_params(app_client, fhir_base, challenge, launch=encode_launch("pat-123")))
    assert exchange_code(config["token_endpoint"], app_client, callback["code"], verifier).status_code == 200
    again = exchange_code(config["token_endpoint"], app_client, callback["code"], verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("aud", ["https://not-this-server.example/fhir", None])
def test_wrong_or_missing_aud_is_refused(config: dict[str, str], app_client: str, fhir_base: str,
                                         aud: str | None) -> None:
    _, challenge = pkce_pair()
    params = launch_params(app_client, fhir_base, challenge, launch=encode_launch("pat-123"))
    if aud is None:
        del params["aud"]
    else:
        params["aud"] = aud
    callback = authorize(config["authorization_endpoint"], params)
    assert callback["error"] == "invalid_request"
    assert "aud" in callback.get("error_description", "")


@pytest.mark.parametrize("launch", ["%%%not-base64%%%", "bm90IGpzb24", encode_launch("x")[:5]])
def test_bad_launch_is_refused(config: dict[str, str], app_client: str, fhir_base: str, launch: str) -> None:
    _, challenge = pkce_pair()
    params = launch_params(app_client, fhir_base, challenge, launch=launch)
    callback = authorize(config["authorization_endpoint"], params)
    assert callback["error"] == "invalid_request"
    assert "launch" in callback.get("error_description", "")


def test_standalone_launch_gets_the_default_patient(config: dict[str, str], app_client: str,
                                                    fhir_base: str) -> None:
    verifier, challenge = pkce_pair()
    params = launch_params(app_client, fhir_base, challenge, launch=None, scope="launch/patient openid patient/*.rs")
    callback = authorize(config["authorization_endpoint"], params)
    body = exchange_code(config["token_endpoint"], app_client, callback["code"], verifier).json()
    assert body["patient"] == "example-patient"
    assert "encounter" not in body


def test_confidential_symmetric_client(smart_url: str, config: dict[str, str], fhir_base: str) -> None:
    registered = requests.post(f"{smart_url}/reg", json={
        "client_name": "confidential app", "grant_types": ["authorization_code"], "response_types": ["code"],
        "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "client_secret_basic"}, timeout=10)
    assert registered.status_code == 201, registered.text
    client_id, secret = registered.json()["client_id"], registered.json()["client_secret"]
    verifier, challenge = pkce_pair()
    callback = authorize(config["authorization_endpoint"],
                         launch_params(client_id, fhir_base, challenge, launch=encode_launch("pat-5")))
    data = {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier}
    wrong = requests.post(config["token_endpoint"], data=data, auth=(client_id, "not-the-secret"), timeout=10)
    assert wrong.status_code == 401
    response = requests.post(config["token_endpoint"], data=data, auth=(client_id, secret), timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["patient"] == "pat-5"
