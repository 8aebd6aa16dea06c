"""End to end: tokens from the SMART authorization server against a Medplum server that checks them.

A second Medplum instance is started here with AUTH_ISSUER=<smart_url>; it verifies Bearer JWTs
against the issuer's JWKS (iss, exp, aud = its own base URL) and answers 401 otherwise.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import jwt
import pytest
import requests

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
    unverified_claims,
)
from tests.servers.fixtures import medplum_secured_by

pytestmark = [pytest.mark.smart, pytest.mark.medplum]


@pytest.fixture(scope="module")
def secured_medplum(smart_url: str) -> Iterator[str]:
    yield from medplum_secured_by(smart_url)


@pytest.fixture(scope="module")
def token_url(smart_url: str) -> str:
    url: str = smart_configuration(smart_url)["token_endpoint"]
    return url


def system_token(smart_url: str, token_url: str, resource: str | None) -> str:
    key = new_key("RS384")
    client_id = register_backend_client(smart_url, "RS384", jwks={"keys": [public_jwk(key, "k1", "RS384")]})
    assertion = client_assertion(client_id, token_url, key, "RS384", "k1")
    response = backend_token(token_url, assertion, "system/Patient.cruds", resource=resource)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}


def new_patient() -> dict[str, object]:
    return {"resourceType": "Patient", "identifier": [{"system": "urn:etmi:test", "value": uuid.uuid4().hex}]}


def test_metadata_needs_no_token(secured_medplum: str) -> None:
    assert requests.get(f"{secured_medplum}/metadata", timeout=10).status_code == 200


def test_backend_services_token_is_accepted(smart_url: str, token_url: str, secured_medplum: str) -> None:
    token = system_token(smart_url, token_url, resource=secured_medplum)
    assert unverified_claims(token)["aud"] == secured_medplum
    created = requests.post(f"{secured_medplum}/Patient", json=new_patient(), headers=bearer(token), timeout=10)
    assert created.status_code == 201, created.text
    read = requests.get(f"{secured_medplum}/Patient/{created.json()['id']}", headers=bearer(token), timeout=10)
    assert read.status_code == 200


def test_ehr_launch_token_is_accepted(smart_url: str, secured_medplum: str) -> None:
    config = smart_configuration(smart_url)
    app = register_app_client(smart_url)
    verifier, challenge = pkce_pair()
    params = launch_params(app, secured_medplum, challenge, launch=encode_launch("pat-1"))
    callback = authorize(config["authorization_endpoint"], params)
    body = exchange_code(config["token_endpoint"], app, callback["code"], verifier).json()
    assert unverified_claims(body["access_token"])["aud"] == secured_medplum
    response = requests.get(f"{secured_medplum}/Patient", headers=bearer(body["access_token"]), timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"])
def test_missing_or_malformed_token_is_refused(secured_medplum: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.get(f"{secured_medplum}/Patient", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_forged_token_is_refused(smart_url: str, secured_medplum: str) -> None:
    now = int(time.time())
    claims = {"iss": smart_url, "aud": secured_medplum, "sub": "forger", "iat": now, "exp": now + 300,
              "scope": "system/Patient.cruds", "client_id": "forger"}
    forged = jwt.encode(claims, new_key("RS256"), algorithm="RS256", headers={"kid": "as-rs256"})
    response = requests.get(f"{secured_medplum}/Patient", headers=bearer(forged), timeout=10)
    assert response.status_code == 401


def test_token_for_another_audience_is_refused(smart_url: str, token_url: str, secured_medplum: str) -> None:
    token = system_token(smart_url, token_url, resource=None)  # the issuer's default audience
    assert unverified_claims(token)["aud"] != secured_medplum
    response = requests.get(f"{secured_medplum}/Patient", headers=bearer(token), timeout=10)
    assert response.status_code == 401


def test_tampered_token_is_refused(smart_url: str, token_url: str, secured_medplum: str) -> None:
    token = system_token(smart_url, token_url, resource=secured_medplum)
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    response = requests.get(f"{secured_medplum}/Patient", headers=bearer(tampered), timeout=10)
    assert response.status_code == 401


def test_scope_must_cover_the_resource_type_and_interaction(smart_url: str, token_url: str,
                                                            secured_medplum: str) -> None:
    token = system_token(smart_url, token_url, resource=secured_medplum)  # system/Patient.cruds
    observations = requests.get(f"{secured_medplum}/Observation", headers=bearer(token), timeout=10)
    assert observations.status_code == 403
    assert observations.json()["issue"][0]["code"] == "forbidden"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    assert requests.post(secured_medplum, json=bundle, headers=bearer(token), timeout=10).status_code == 403


def test_patient_level_token_is_limited_to_its_patient(smart_url: str, secured_medplum: str) -> None:
    config = smart_configuration(smart_url)
    app = register_app_client(smart_url)
    verifier, challenge = pkce_pair()
    params = launch_params(app, secured_medplum, challenge, launch=encode_launch("pat-own"))
    callback = authorize(config["authorization_endpoint"], params)
    token = exchange_code(config["token_endpoint"], app, callback["code"], verifier).json()["access_token"]
    own = requests.get(f"{secured_medplum}/Patient/pat-own", headers=bearer(token), timeout=10)
    assert own.status_code == 404  # allowed; the patient just does not exist on this server
    other = requests.get(f"{secured_medplum}/Patient/pat-other", headers=bearer(token), timeout=10)
    assert other.status_code == 403
    write = requests.post(f"{secured_medplum}/Patient", json=new_patient(), headers=bearer(token), timeout=10)
    assert write.status_code == 403  # patient/*.rs grants no create
