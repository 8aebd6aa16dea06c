"""CDS Hooks without prefetch: the service reads the EHR's FHIR server with the ``fhirAuthorization`` it is
given. The EHR is HAPI (the test pushes an active ETMI episode there) behind a small gate that answers 401
to any request not carrying the request's own bearer token and records what it saw; the service runs on a
real socket and is called over HTTP with a JWT signed by the EHR (its JWKS served over HTTP).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from mappings.bundle import transaction_bundle
from service.app import create_app
from tests.servers.fixtures import free_port
from tests.servers.loopback import QuietHandler, serve, stop
from tests.service.cds_client import Ehr
from tests.service.test_cds_hooks import assert_cds_card, cds_settings, ehr_resources

pytestmark = pytest.mark.hapi
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


class Gate:
    """``/fhir/...`` -> HAPI, only with ``Authorization: Bearer <token>``; 401 otherwise. Records requests."""

    def __init__(self, upstream: str, token: str) -> None:
        outer = self
        self.seen: list[tuple[str, str | None]] = []

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization")
                outer.seen.append((self.path, auth))
                if auth != f"Bearer {token}":
                    self._answer(401, b'{"resourceType":"OperationOutcome","issue":[{"severity":"error",'
                                      b'"code":"login"}]}')
                    return
                answer = requests.get(upstream + self.path.removeprefix("/fhir"), headers=FHIR_JSON, timeout=30)
                self._answer(answer.status_code, answer.content)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_body(status, body, "application/fhir+json")


        self.server, origin = serve(Handler)
        self.url = f"{origin}/fhir"

    def close(self) -> None:
        stop(self.server)


@pytest.fixture(scope="module")
def ehr() -> Iterator[Ehr]:
    client = Ehr()
    yield client
    client.jwks.close()


@pytest.fixture(scope="module")
def patient_id(hapi_url: str) -> str:
    """An active ETMI episode (function 48.5 -> 40) pushed to HAPI; the Patient's id there."""
    marker = f"P-CDS-{uuid.uuid4().hex[:12]}"
    bundle = transaction_bundle(ehr_resources(patient=marker, function_after=40))
    pushed = requests.post(hapi_url, data=json.dumps(bundle), headers=FHIR_JSON, timeout=120)
    assert pushed.status_code == 200, pushed.text[:1000]
    found = requests.get(f"{hapi_url}/Patient", params={"identifier": f"urn:oid:2.16.840.1.113883.3.7777.1|{marker}"},
                         headers=FHIR_JSON, timeout=30).json()
    (entry,) = found["entry"]
    return str(entry["resource"]["id"])


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory, ehr: Ehr) -> Iterator[str]:
    port = free_port()
    db = Path(tmp_path_factory.mktemp("cds")) / "etmi.db"
    base = f"http://127.0.0.1:{port}"
    app = create_app(dataclasses.replace(cds_settings(f"sqlite:///{db}", ehr.jwks.url), public_base_url=base))
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{base}/cds-services/etmi-patient-view"
    finally:
        server.shutdown()
        app.extensions["etmi"].store.close()


def hook_call(service_url: str, ehr: Ehr, patient: str, fhir_server: str, token: str,
              prefetch: dict[str, Any] | None = None) -> requests.Response:
    body: dict[str, Any] = {
        "hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": fhir_server,
        "fhirAuthorization": {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                              "scope": "patient/CarePlan.rs patient/Observation.rs", "subject": "etmi-cds"},
        "context": {"userId": "Practitioner/example", "patientId": patient},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return requests.post(service_url, json=body, timeout=60,
                         headers={"Authorization": f"Bearer {ehr.token(aud=service_url)}"})


def test_without_prefetch_the_service_reads_the_fhir_server_with_the_given_token(
        hapi_url: str, ehr: Ehr, patient_id: str, service_url: str) -> None:
    token = f"ehr-issued-{uuid.uuid4().hex}"
    gate = Gate(hapi_url, token)
    try:
        response = hook_call(service_url, ehr, patient_id, gate.url, token)
    finally:
        gate.close()
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    for card in cards:
        assert_cds_card(card, launch=service_url.split("/cds-services")[0] + "/clinician/launch")
    assert sorted(c["indicator"] for c in cards) == ["info", "warning"]
    assert any("48.5 to 40" in c["summary"] for c in cards)
    assert sorted(path.split("?")[0] for path, _ in gate.seen) == ["/fhir/CarePlan", "/fhir/Observation"]
    assert all(auth == f"Bearer {token}" for _, auth in gate.seen)
    assert all(f"patient={patient_id}" in path for path, _ in gate.seen)


def test_only_the_missing_prefetch_key_is_fetched(hapi_url: str, ehr: Ehr, patient_id: str,
                                                  service_url: str) -> None:
    token = f"ehr-issued-{uuid.uuid4().hex}"
    gate = Gate(hapi_url, token)
    try:
        response = hook_call(service_url, ehr, patient_id, gate.url, token, prefetch={"etmiCarePlans": None})
    finally:
        gate.close()
    assert response.status_code == 200, response.text
    assert [c["indicator"] for c in response.json()["cards"]] == ["warning"]  # no plan given: no info card
    assert [path.split("?")[0] for path, _ in gate.seen] == ["/fhir/Observation"]


def test_a_token_the_fhir_server_refuses_is_412(hapi_url: str, ehr: Ehr, patient_id: str,
                                               service_url: str) -> None:
    gate = Gate(hapi_url, "the-right-token")
    try:
        response = hook_call(service_url, ehr, patient_id, gate.url, "a-wrong-token")
    finally:
        gate.close()
    assert response.status_code == 412, response.text
    assert response.json()["error"] == "precondition_failed" and response.json()["path"] == "fhirServer"
    assert gate.seen and all(auth == "Bearer a-wrong-token" for _, auth in gate.seen)
