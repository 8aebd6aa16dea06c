"""Pins the Medplum behaviours that differ from HAPI (tests/servers/README.md, last section).

If one of these fails after a Medplum upgrade, update the README table and the client rules with it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.medplum


@pytest.fixture
def fhir(medplum_url: str) -> requests.Session:
    session = requests.Session()
    session.headers.update({"Content-Type": "application/fhir+json"})
    return session


def observation(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "pain"}, **extra}


def test_version_ids_are_opaque_and_timestamps_use_z(fhir: requests.Session, medplum_url: str) -> None:
    body = fhir.post(f"{medplum_url}/Patient", json={"resourceType": "Patient"}).json()
    assert not body["meta"]["versionId"].isdigit()
    assert body["meta"]["lastUpdated"].endswith("Z")


def test_delete_then_read_is_404_and_history_goes(fhir: requests.Session, medplum_url: str) -> None:
    pid = fhir.post(f"{medplum_url}/Patient", json={"resourceType": "Patient"}).json()["id"]
    fhir.post(f"{medplum_url}/Observation", json=observation(subject={"reference": f"Patient/{pid}"}))
    assert fhir.delete(f"{medplum_url}/Patient/{pid}").status_code == 200  # referenced, still allowed
    assert fhir.get(f"{medplum_url}/Patient/{pid}").status_code == 404
    assert fhir.get(f"{medplum_url}/Patient/{pid}/_history").status_code == 404


def test_lenient_and_strict_spots(fhir: requests.Session, medplum_url: str) -> None:
    dangling = observation(subject={"reference": f"Patient/{uuid.uuid4()}"})
    assert fhir.post(f"{medplum_url}/Observation", json=dangling).status_code == 201
    assert fhir.post(f"{medplum_url}/Patient", json={"resourceType": "Patient", "gender": "banana"}).status_code == 201
    assert fhir.post(f"{medplum_url}/Patient", json={"resourceType": "Patient", "fooBar": 1}).status_code == 400
    no_status = {"resourceType": "Observation", "code": {"text": "pain"}}
    assert fhir.post(f"{medplum_url}/Observation", json=no_status).status_code == 400
    two_choices = observation(valueQuantity={"value": 6}, valueBanana=1)
    assert fhir.post(f"{medplum_url}/Observation", json=two_choices).status_code == 201


def test_unknown_search_parameter_gives_zero_results(fhir: requests.Session, medplum_url: str) -> None:
    fhir.post(f"{medplum_url}/Patient", json={"resourceType": "Patient"})
    response = fhir.get(f"{medplum_url}/Patient", params={"no-such-param": "x"})
    assert response.status_code == 200
    assert response.json()["total"] == 0


def test_update_as_create_answers_200(fhir: requests.Session, medplum_url: str) -> None:
    pid = f"etmi-{uuid.uuid4().hex[:12]}"
    response = fhir.put(f"{medplum_url}/Patient/{pid}", json={"resourceType": "Patient", "id": pid})
    assert response.status_code == 200
    assert response.json()["id"] == pid


def _conditional_entries(count: int) -> list[dict[str, Any]]:
    system = f"urn:etmi:test:{uuid.uuid4().hex}"
    return [{"resource": {"resourceType": "Patient", "identifier": [{"system": system, "value": str(i)}]},
             "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={system}|{i}"}}
            for i in range(count)]


def test_transaction_caps(fhir: requests.Session, medplum_url: str) -> None:
    def transaction(entries: list[dict[str, Any]]) -> int:
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        return fhir.post(medplum_url, json=bundle).status_code

    assert transaction(_conditional_entries(8)) == 200
    assert transaction(_conditional_entries(9)) == 400
    tag = uuid.uuid4().hex[:8]
    puts = [{"resource": {"resourceType": "Patient", "id": f"cap-{tag}-{i}"},
             "request": {"method": "PUT", "url": f"Patient/cap-{tag}-{i}"}} for i in range(51)]
    assert transaction(puts[:50]) == 200
    assert transaction(puts) == 400


def test_no_xml_no_minimal_no_everything(fhir: requests.Session, medplum_url: str) -> None:
    created = fhir.post(f"{medplum_url}/Patient", json={"resourceType": "Patient"},
                        headers={"Prefer": "return=minimal"})
    assert created.status_code == 201
    assert created.json()["resourceType"] == "Patient"  # Prefer ignored
    pid = created.json()["id"]
    xml = fhir.get(f"{medplum_url}/Patient/{pid}", headers={"Accept": "application/fhir+xml"})
    assert xml.headers["Content-Type"].startswith("application/fhir+json")
    assert fhir.get(f"{medplum_url}/Patient/{pid}/$everything").status_code == 404
    assert fhir.get(f"{medplum_url}/Patient/_history").status_code == 404
