"""The real HAPI FHIR JPA test server (tests/servers/hapi) behaves like the public HAPI sandbox.

These checks pin down the HAPI behaviours that the project's client code has to tolerate (see
tests/servers/hapi/README.md): 409 on a stale If-Match, 410 after delete, 400 on a dangling reference,
400 on a purely numeric client id, ``$validate`` answering 200 with an OperationOutcome.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.hapi

FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
TIMEOUT = 120


def _send(method: str, url: str, body: dict[str, Any] | None = None, **headers: str) -> requests.Response:
    data = json.dumps(body) if body is not None else None
    return requests.request(method, url, data=data, headers={**FHIR_JSON, **headers}, timeout=TIMEOUT)


def _patient(tag: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:etmi:test:hapi", "value": tag}],
        "name": [{"family": "Tester", "given": [tag]}],
    }


def _errors(outcome: dict[str, Any]) -> list[str]:
    assert outcome["resourceType"] == "OperationOutcome", outcome
    return [
        str(issue.get("diagnostics", issue.get("details", {}).get("text", "")))
        for issue in outcome.get("issue", [])
        if issue.get("severity") in ("error", "fatal")
    ]


def test_metadata_is_r4(hapi_url: str) -> None:
    r = requests.get(f"{hapi_url}/metadata", headers=FHIR_JSON, timeout=TIMEOUT)
    assert r.status_code == 200
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    types = {res["type"] for res in cs["rest"][0]["resource"]}
    assert {"Patient", "Observation", "Questionnaire", "QuestionnaireResponse", "CarePlan", "Goal"} <= types


def test_create_then_read(hapi_url: str) -> None:
    tag = uuid.uuid4().hex
    r = _send("POST", f"{hapi_url}/Patient", _patient(tag))
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["ETag"] == 'W/"1"'
    assert r.headers["Location"].endswith(f"/Patient/{created['id']}/_history/1")
    assert created["meta"]["versionId"] == "1"
    read = requests.get(f"{hapi_url}/Patient/{created['id']}", headers=FHIR_JSON, timeout=TIMEOUT)
    assert read.status_code == 200
    assert read.json()["identifier"][0]["value"] == tag


def test_update_with_stale_if_match_is_409(hapi_url: str) -> None:
    created = _send("POST", f"{hapi_url}/Patient", _patient(uuid.uuid4().hex)).json()
    url = f"{hapi_url}/Patient/{created['id']}"
    first = _send("PUT", url, {**created, "active": True}, **{"If-Match": 'W/"1"'})
    assert first.status_code == 200, first.text
    assert first.json()["meta"]["versionId"] == "2"
    stale = _send("PUT", url, {**created, "active": False}, **{"If-Match": 'W/"1"'})
    # HAPI answers 409 (HAPI-0989 ResourceVersionConflictException), not 412
    assert stale.status_code == 409, stale.text
    assert any("HAPI-0989" in e for e in _errors(stale.json()))


def test_delete_then_read_is_410(hapi_url: str) -> None:
    created = _send("POST", f"{hapi_url}/Patient", _patient(uuid.uuid4().hex)).json()
    url = f"{hapi_url}/Patient/{created['id']}"
    deleted = _send("DELETE", url)
    assert deleted.status_code == 200, deleted.text
    gone = requests.get(url, headers=FHIR_JSON, timeout=TIMEOUT)
    assert gone.status_code == 410
    assert any("deleted" in e for e in _errors(gone.json()))


def test_client_assigned_ids(hapi_url: str) -> None:
    alpha = f"etmi-{uuid.uuid4().hex[:12]}"
    r = _send("PUT", f"{hapi_url}/Patient/{alpha}", {**_patient(alpha), "id": alpha})
    assert r.status_code == 201, r.text
    numeric = str(uuid.uuid4().int % 10**12 + 10**12)
    r = _send("PUT", f"{hapi_url}/Patient/{numeric}", {**_patient(numeric), "id": numeric})
    assert r.status_code == 400
    assert any("HAPI-0960" in e for e in _errors(r.json()))


def test_referential_integrity_on_write(hapi_url: str) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
        "subject": {"reference": "Patient/does-not-exist"},
    }
    r = _send("POST", f"{hapi_url}/Observation", obs)
    assert 400 <= r.status_code < 500, r.text
    assert r.status_code == 400
    assert any("HAPI-1094" in e for e in _errors(r.json()))


def test_referential_integrity_on_delete(hapi_url: str) -> None:
    patient = _send("POST", f"{hapi_url}/Patient", _patient(uuid.uuid4().hex)).json()
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "referencing"},
        "subject": {"reference": f"Patient/{patient['id']}"},
    }
    assert _send("POST", f"{hapi_url}/Observation", obs).status_code == 201
    r = _send("DELETE", f"{hapi_url}/Patient/{patient['id']}")
    assert r.status_code == 409, r.text
    cascade = _send("DELETE", f"{hapi_url}/Patient/{patient['id']}?_cascade=delete")
    assert cascade.status_code == 200, cascade.text


def test_validate_reports_errors_with_200(hapi_url: str) -> None:
    bad = {"resourceType": "Observation", "code": {"text": "no status"}}
    r = _send("POST", f"{hapi_url}/Observation/$validate", bad)
    # HAPI answers 200 with the issues in the OperationOutcome (not 412/422)
    assert r.status_code == 200, r.text
    errors = _errors(r.json())
    assert any("Observation.status" in e for e in errors), errors


def test_validate_good_resource_has_no_errors(hapi_url: str) -> None:
    good = {"resourceType": "Observation", "status": "final", "code": {"text": "fine"}}
    r = _send("POST", f"{hapi_url}/Observation/$validate", good)
    assert r.status_code == 200
    assert _errors(r.json()) == []


def test_validate_against_unknown_profile_is_an_error(hapi_url: str) -> None:
    good = {"resourceType": "Observation", "status": "final", "code": {"text": "fine"}}
    r = requests.post(
        f"{hapi_url}/Observation/$validate", params={"profile": "http://example.org/no-such-profile"},
        data=json.dumps(good), headers=FHIR_JSON, timeout=TIMEOUT,
    )
    assert r.status_code == 200
    assert any("Failed to retrieve profile" in e for e in _errors(r.json()))


def test_search_paging_links_are_absolute(hapi_url: str) -> None:
    system = f"urn:etmi:test:paging:{uuid.uuid4().hex}"
    for i in range(3):
        patient = {**_patient(str(i)), "identifier": [{"system": system, "value": str(i)}]}
        assert _send("POST", f"{hapi_url}/Patient", patient).status_code == 201
    r = requests.get(f"{hapi_url}/Patient", params={"identifier": f"{system}|", "_count": "2"},
                     headers=FHIR_JSON, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["type"] == "searchset" and len(page["entry"]) == 2
    nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
    assert nxt.startswith(hapi_url) and "_getpages=" in nxt
    second = requests.get(nxt, headers=FHIR_JSON, timeout=TIMEOUT).json()
    assert len(second["entry"]) == 1


def test_unknown_search_parameter_is_400(hapi_url: str) -> None:
    r = requests.get(f"{hapi_url}/Patient", params={"no-such-param": "x"}, headers=FHIR_JSON, timeout=TIMEOUT)
    assert r.status_code == 400


def test_conditional_create_match_returns_location(hapi_url: str) -> None:
    tag = uuid.uuid4().hex
    first = _send("POST", f"{hapi_url}/Patient", _patient(tag))
    assert first.status_code == 201
    again = _send("POST", f"{hapi_url}/Patient", _patient(tag),
                  **{"If-None-Exist": f"identifier=urn:etmi:test:hapi|{tag}"})
    assert again.status_code == 200
    assert f"/Patient/{first.json()['id']}/" in again.headers["Location"]


def _race_conditional_creates(hapi_url: str, **headers: str) -> tuple[list[int], int]:
    """Send one conditional-create transaction six times at once; return the statuses and the match count."""
    tag = uuid.uuid4().hex
    match = f"identifier=urn:etmi:test:race|{tag}"
    patient = {**_patient(tag), "identifier": [{"system": "urn:etmi:test:race", "value": tag}]}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient, "request": {"method": "POST", "url": "Patient", "ifNoneExist": match}}]}
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: _send("POST", hapi_url, bundle, **headers).status_code, range(6)))
    found = requests.get(f"{hapi_url}/Patient?{match}", headers=FHIR_JSON, timeout=TIMEOUT).json()
    return statuses, len(found.get("entry", []))


def test_concurrent_conditional_creates_may_409(hapi_url: str) -> None:
    """Racing conditional creates: one wins, the others may get 409 HAPI-0550 (a unique index)."""
    statuses, count = _race_conditional_creates(hapi_url)
    assert set(statuses) <= {200, 201, 409}, statuses
    assert count == 1


def test_retry_header_resolves_conditional_create_races(hapi_url: str) -> None:
    """UserRequestRetryVersionConflictsInterceptor is registered (opt-in per request)."""
    statuses, count = _race_conditional_creates(
        hapi_url, **{"X-Retry-On-Version-Conflict": "retry; max-retries=10"})
    assert set(statuses) <= {200, 201}, statuses
    assert count == 1
