"""The FHIR façade: metadata, read, vread, history, search, conformance resources, $validate."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from mappings import canonical as c
from tests.service.conftest import outcome_of

PAIN = f"{c.LOINC}|72514-3"


@pytest.fixture
def loaded(client: FlaskClient, episode: dict[str, Any]) -> str:
    """Two episodes of two patients; returns the first patient's id."""
    first = client.post("/api/v1/episodes", json=episode)
    other = copy.deepcopy(episode)
    other.update(episode_id="EP-2", patient={"system": episode["patient"]["system"], "value": "P-2"})
    assert client.post("/api/v1/episodes", json=other).status_code == 201
    patient_id: str = first.get_json()["patient_id"]
    return patient_id


def _bundle(client: FlaskClient, url: str, **kw: Any) -> dict[str, Any]:
    response = client.get(url, **kw)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/fhir+json"
    body: dict[str, Any] = response.get_json(force=True)
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    return body


def test_capability_statement_is_honest(client: FlaskClient) -> None:
    response = client.get("/fhir/metadata")
    assert response.mimetype == "application/fhir+json"
    cs = response.get_json(force=True)
    assert cs["fhirVersion"] == "4.0.1" and cs["kind"] == "instance" and cs["date"]
    resources = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert c.ETMI_SD_GOAL in resources["Goal"]["supportedProfile"]
    assert c.ETMI_SD_OBS_PAIN in resources["Observation"]["supportedProfile"]
    assert resources["CarePlan"]["searchInclude"][0] == "CarePlan:goal"
    assert {i["code"] for i in resources["Observation"]["interaction"]} == {
        "read", "vread", "search-type", "history-instance"}
    assert cs["implementationGuide"] == [c.ETMI_IG]
    assert {o["name"] for o in cs["rest"][0]["operation"]} == {"validate", "export"}  # $export: service.fhir.bulk
    assert "export" in {o["name"] for o in resources["Patient"]["operation"]}


def test_read_vread_etag_and_history(client: FlaskClient, loaded: str) -> None:
    read = client.get(f"/fhir/Patient/{loaded}")
    assert read.status_code == 200 and read.headers["ETag"] == 'W/"1"'
    assert read.get_json(force=True)["meta"]["versionId"] == "1"
    assert client.get(f"/fhir/Patient/{loaded}", headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert client.get(f"/fhir/Patient/{loaded}/_history/1").status_code == 200
    outcome_of(client.get(f"/fhir/Patient/{loaded}/_history/7"), 404)
    outcome_of(client.get("/fhir/Patient/does-not-exist"), 404)
    outcome_of(client.get("/fhir/Basic/1"), 404)
    history = client.get(f"/fhir/Patient/{loaded}/_history").get_json(force=True)
    assert history["type"] == "history" and history["total"] == 1


def test_search_by_patient_code_and_date(client: FlaskClient, loaded: str) -> None:
    pains = _bundle(client, f"/fhir/Observation?patient={loaded}&code={PAIN}")
    assert pains["total"] == 3  # intake, session 1, discharge
    assert {e["search"]["mode"] for e in pains["entry"]} == {"match"}
    same = _bundle(client, f"/fhir/Observation?subject=Patient/{loaded}&code=72514-3")
    assert same["total"] == 3
    dated = _bundle(client, f"/fhir/Observation?patient={loaded}&code={PAIN}&date=ge2026-01-06&date=lt2026-03-01")
    assert dated["total"] == 1
    january = _bundle(client, f"/fhir/Observation?patient={loaded}&code={PAIN}&date=2026-01")
    assert january["total"] == 2


def test_search_by_identifier_status_and_last_updated(client: FlaskClient, loaded: str) -> None:
    patient = _bundle(client, "/fhir/Patient?identifier=urn:oid:2.16.840.1.113883.3.7777.1|P-000123")
    assert [e["resource"]["id"] for e in patient["entry"]] == [loaded]
    assert _bundle(client, "/fhir/Goal?lifecycle-status=completed")["total"] == 2
    assert _bundle(client, "/fhir/Goal?lifecycle-status=active")["total"] == 0
    assert _bundle(client, "/fhir/CarePlan?status=completed,active")["total"] == 2
    assert _bundle(client, "/fhir/Patient?_lastUpdated=gt2000-01-01")["total"] == 2
    assert _bundle(client, "/fhir/Patient?_lastUpdated=lt2000-01-01")["total"] == 0
    assert _bundle(client, f"/fhir/Patient?_id={loaded}")["total"] == 1


def test_paging_links_walk_every_match_once(client: FlaskClient, loaded: str) -> None:
    page = _bundle(client, f"/fhir/Observation?patient={loaded}&_count=4")
    total, seen = page["total"], []
    while True:
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        links = {link["relation"]: link["url"] for link in page["link"]}
        if "next" not in links:
            break
        parts = urlsplit(links["next"])
        page = _bundle(client, f"{parts.path}?{parts.query}")
    assert total > 8 and len(seen) == total == len(set(seen))
    assert _bundle(client, f"/fhir/Observation?patient={loaded}&_summary=count")["total"] == total


def test_include_careplan_goals(client: FlaskClient, loaded: str) -> None:
    body = _bundle(client, f"/fhir/CarePlan?patient={loaded}&_include=CarePlan:goal")
    modes = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in body["entry"]]
    assert modes == [("CarePlan", "match"), ("Goal", "include")]
    goal_ref = body["entry"][0]["resource"]["goal"][0]["reference"]
    assert goal_ref == f"Goal/{body['entry'][1]['resource']['id']}"


def test_unknown_parameters_are_400_unless_lenient(client: FlaskClient, loaded: str) -> None:
    body = outcome_of(client.get("/fhir/Observation?colour=blue"), 400)
    assert body["issue"][0]["expression"] == ["colour"]
    outcome_of(client.get("/fhir/Observation?code:text=pain"), 400)
    outcome_of(client.get("/fhir/Observation?date=yesterday"), 400)
    outcome_of(client.get("/fhir/Observation?_count=-1"), 400)
    outcome_of(client.get("/fhir/Observation?_include=Observation:foo"), 400)
    lenient = _bundle(client, "/fhir/Observation?colour=blue&_count=1", headers={"Prefer": "handling=lenient"})
    assert lenient["entry"][-1]["search"]["mode"] == "outcome"


def test_format_and_write_methods(client: FlaskClient, loaded: str) -> None:
    assert client.get(f"/fhir/Patient/{loaded}?_format=json").mimetype == "application/fhir+json"
    outcome_of(client.get(f"/fhir/Patient/{loaded}?_format=xml"), 406)
    outcome_of(client.get(f"/fhir/Patient/{loaded}", headers={"Accept": "application/fhir+xml"}), 406)
    assert client.get(f"/fhir/Patient/{loaded}", headers={"Accept": "application/fhir+json"}).status_code == 200
    assert client.get(f"/fhir/Patient/{loaded}", headers={"Accept": "*/*"}).status_code == 200
    outcome_of(client.post("/fhir/Patient", json={"resourceType": "Patient"}), 405)
    outcome_of(client.delete(f"/fhir/Patient/{loaded}"), 405)


def test_conformance_resources_by_url_and_version(client: FlaskClient) -> None:
    url = f"{c.ETMI_Q_INTAKE}|{c.QUESTIONNAIRE_VERSION}"
    found = _bundle(client, f"/fhir/Questionnaire?url={url}")
    assert found["total"] == 1 and found["entry"][0]["resource"]["version"] == c.QUESTIONNAIRE_VERSION
    assert _bundle(client, f"/fhir/Questionnaire?url={c.ETMI_Q_INTAKE}&version=9.9")["total"] == 0
    assert _bundle(client, f"/fhir/StructureDefinition?url={c.ETMI_SD_GOAL}")["total"] == 1
    assert _bundle(client, f"/fhir/ValueSet?url={c.ETMI_VS_TTM_STAGE}")["total"] == 1
    assert _bundle(client, f"/fhir/CodeSystem?url={c.ETMI_CS_TTM_STAGE}")["total"] == 1
    assert _bundle(client, "/fhir/ImplementationGuide")["total"] == 1
    qid = found["entry"][0]["resource"]["id"]
    assert client.get(f"/fhir/Questionnaire/{qid}").get_json(force=True)["url"] == c.ETMI_Q_INTAKE
    outcome_of(client.get("/fhir/Questionnaire?title=x"), 400)


def test_validate_operation(client: FlaskClient, loaded: str) -> None:
    goal = _bundle(client, "/fhir/Goal?_count=1")["entry"][0]["resource"]
    ok = client.post("/fhir/Goal/$validate", json=goal)
    assert ok.status_code == 200 and ok.mimetype == "application/fhir+json"
    assert not [i for i in ok.get_json(force=True)["issue"] if i["severity"] in ("error", "fatal")]
    broken = dict(goal, lifecycleStatus="maybe")
    bad = client.post("/fhir/$validate", json={"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": broken}]}).get_json(force=True)
    assert any(i["severity"] == "error" and "lifecycleStatus" in " ".join(i.get("expression", []))
               for i in bad["issue"])
    outcome_of(client.post("/fhir/Observation/$validate", json=goal), 400)
    outcome_of(client.post("/fhir/$validate", data="nope", content_type="application/fhir+json"), 400)


def test_sort_and_post_search(client: FlaskClient, loaded: str) -> None:
    newest = _bundle(client, f"/fhir/Observation?patient={loaded}&code={PAIN}&_sort=-date")
    dates = [e["resource"]["effectiveDateTime"] for e in newest["entry"]]
    assert dates == sorted(dates, reverse=True)
    posted = client.post("/fhir/Observation/_search", data={"patient": loaded, "code": PAIN})
    assert posted.status_code == 200 and posted.get_json(force=True)["total"] == 3
    outcome_of(client.get("/fhir/Observation?_sort=colour"), 400)
