"""Cross-patient matrix of the FHIR façade: tokens for patient A, patient B, ``user/CarePlan.rs`` and
``system/*.rs`` against read, vread, history, search with each search parameter, ``_include``, paging
links, ``$validate`` and ``AuditEvent``: exactly what each may see.

Patient B's token asking for A's data gets what it would get for data that does not exist (a 404 with
the same text, an empty searchset), and the denial is audited; ``user/CarePlan.rs`` never receives
another type through ``_include``; a history shows only the versions the token may read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service.fhir.params import INCLUDES, STORED
from service.store.db import transaction, utcnow
from service.store.resources import save_resources
from tests.service.authz_world import World, build_world

TYPES = sorted(STORED)
WHO = ("patient_a", "patient_b", "user_careplan", "system")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from build_world(tmp_path_factory.mktemp("matrix"))


def owner(world: World, resource: dict[str, Any]) -> str:
    """"A" or "B": whose compartment a returned resource is in."""
    ref = resource["id"] if resource["resourceType"] == "Patient" else resource["subject"]["reference"]
    return {pid: name for name, pid in world.patients.items()}[ref.removeprefix("Patient/")]


def expected_read(who: str, rtype: str) -> int:
    """The status of reading patient A's ``rtype`` resource."""
    return {"patient_a": 200, "patient_b": 404, "system": 200}.get(who, 200 if rtype == "CarePlan" else 403)


def same_as_missing(world: World, who: str, url: str, missing_url: str) -> None:
    """A denial reads exactly like a missing resource: same status, same issue code, same text but the id."""
    denied, missing = world.get(url, who), world.get(missing_url, who)
    assert (denied.status_code, missing.status_code) == (404, 404)
    d_issue, m_issue = denied.get_json(force=True)["issue"][0], missing.get_json(force=True)["issue"][0]
    assert d_issue["code"] == m_issue["code"] == "not-found"
    assert d_issue["diagnostics"].replace(url.split("/")[3], "X") == m_issue["diagnostics"].replace("missing-id", "X")


@pytest.mark.parametrize("rtype", TYPES)
@pytest.mark.parametrize("who", WHO)
def test_read_and_vread(world: World, who: str, rtype: str) -> None:
    resource = world.fhir(rtype, "A")
    for url in (f"/fhir/{rtype}/{resource['id']}", f"/fhir/{rtype}/{resource['id']}/_history/1"):
        response = world.get(url, who)
        assert response.status_code == expected_read(who, rtype), (url, response.get_data(as_text=True))
        if response.status_code == 200:
            assert response.get_json(force=True)["id"] == resource["id"]
    if who == "patient_b":
        same_as_missing(world, who, f"/fhir/{rtype}/{resource['id']}", f"/fhir/{rtype}/missing-id")


def test_denials_are_audited_as_audit_events(world: World) -> None:
    plan = world.fhir("CarePlan", "A")
    assert world.get(f"/fhir/CarePlan/{plan['id']}", "patient_b").status_code == 404
    events = world.get(f"/fhir/AuditEvent?outcome=4&entity=CarePlan/{plan['id']}", "system").get_json(force=True)
    assert events["total"] >= 1
    event = events["entry"][0]["resource"]
    assert event["outcome"] == "4" and event["subtype"][0]["code"] == "read" and event["action"] == "R"
    assert {"reference": f"Patient/{world.patients['A']}"} in [e.get("what") for e in event["entity"]]
    assert "sub-patient_b" in [a["who"]["identifier"]["value"] for a in event["agent"] if "identifier" in a["who"]]


def test_history_shows_only_the_versions_the_token_may_read(world: World) -> None:
    """A Goal that was patient B's in version 1 and is patient A's in version 2 (as the old PUT bug did)."""
    goal = world.fhir("Goal", "B")
    moved = {**goal, "id": "moved-goal", "identifier": [{"system": "urn:test", "value": "moved"}]}
    with transaction(world.app.extensions["etmi"].store.sessions) as session:
        save_resources(session, [moved], utcnow())
        mine = {**moved, "subject": {"reference": f"Patient/{world.patients['A']}"}, "description": {"text": "x"}}
        save_resources(session, [mine], utcnow())
    versions = {who: world.get("/fhir/Goal/moved-goal/_history", who) for who in WHO}
    assert [e["resource"]["meta"]["versionId"] for e in versions["patient_a"].get_json(force=True)["entry"]] == ["2"]
    assert versions["patient_b"].status_code == 404  # the resource is not B's now
    assert versions["system"].get_json(force=True)["total"] == 2
    assert versions["user_careplan"].status_code == 403
    assert world.get("/fhir/Goal/moved-goal/_history/1", "patient_a").status_code == 404
    assert world.get("/fhir/Goal/moved-goal/_history/1", "patient_b").status_code == 200


def search_values(world: World, rtype: str) -> dict[str, str]:
    """One value per search parameter of ``rtype`` that matches patient A's resource."""
    resource = world.fhir(rtype, "A")
    values = {"_id": resource["id"], "_lastUpdated": "ge2000-01-01"}
    for name, kind in STORED[rtype].items():
        if kind == "reference":
            values[name] = f"Patient/{world.patients['A']}"
        elif kind == "date":
            values[name] = "ge1900-01-01"
        elif kind == "status":
            values[name] = resource.get("status") or resource["lifecycleStatus"]
        elif name == "identifier":
            ident = resource["identifier"][0] if isinstance(resource["identifier"], list) else resource["identifier"]
            values[name] = f"{ident['system']}|{ident['value']}"
        else:
            concept = resource[name][0] if isinstance(resource[name], list) else resource[name]
            values[name] = f"{concept['coding'][0]['system']}|{concept['coding'][0]['code']}"
    return values


@pytest.mark.parametrize("rtype", TYPES)
@pytest.mark.parametrize("who", WHO)
def test_search_each_parameter(world: World, who: str, rtype: str) -> None:
    a_id = world.fhir(rtype, "A")["id"]
    for name, value in search_values(world, rtype).items():
        response = world.client.get(f"/fhir/{rtype}", query_string={name: value}, headers=world.headers(who))
        if who == "user_careplan" and rtype != "CarePlan":
            assert response.status_code == 403, (name, response.get_data(as_text=True))
            continue
        assert response.status_code == 200, (name, response.get_data(as_text=True))
        bundle = response.get_json(force=True)
        found = [e["resource"] for e in bundle.get("entry", [])]
        owners = {owner(world, r) for r in found}
        if who == "patient_b":
            assert a_id not in [r["id"] for r in found] and owners <= {"B"}, name
            assert bundle["total"] == len(found), name  # no count of A's resources either
        else:
            assert a_id in [r["id"] for r in found], (name, value)
            assert owners <= ({"A"} if who == "patient_a" else {"A", "B"}), name


@pytest.mark.parametrize("include", sorted(f"{t}:{p}" for t, p in INCLUDES))
@pytest.mark.parametrize("who", WHO)
def test_include_respects_type_scopes_and_compartment(world: World, who: str, include: str) -> None:
    rtype = include.split(":")[0]
    response = world.get(f"/fhir/{rtype}?_include={include}", who)
    if who == "user_careplan" and rtype != "CarePlan":
        assert response.status_code == 403
        return
    assert response.status_code == 200, response.get_data(as_text=True)
    included = [e["resource"] for e in response.get_json(force=True).get("entry", [])
                if e["search"]["mode"] == "include"]
    if who == "user_careplan":
        assert included == [], f"user/CarePlan.rs received {[r['resourceType'] for r in included]}"
    elif who == "system":
        assert {owner(world, r) for r in included if r["resourceType"] != "Condition" or "subject" in r} <= {"A", "B"}
        assert included, include
    else:
        mine = "A" if who == "patient_a" else "B"
        assert included and {owner(world, r) for r in included} == {mine}


def test_paging_links_are_searches_under_the_follower_token(world: World) -> None:
    page = world.get("/fhir/CarePlan?_count=1", "system").get_json(force=True)
    assert page["total"] == 2
    nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
    path = nxt.split("://", 1)[1].split("/", 1)[1]
    for who, expected in (("patient_a", set()), ("system", {"A", "B"})):
        body = world.get("/" + path, who).get_json(force=True)
        assert {owner(world, e["resource"]) for e in body.get("entry", [])} <= expected
    mine = world.get("/fhir/CarePlan?_count=1", "patient_b").get_json(force=True)
    assert mine["total"] == 1 and owner(world, mine["entry"][0]["resource"]) == "B"
    assert "next" not in [link["relation"] for link in mine["link"]]


@pytest.mark.parametrize("who", WHO)
def test_validate_needs_a_token_and_reads_no_stored_data(world: World, who: str) -> None:
    resource = world.fhir("Goal", "A") if who == "system" else {"resourceType": "Basic", "code": {"text": "x"}}
    response = world.send("POST", "/fhir/$validate", who, resource)
    assert response.status_code == 200 and response.get_json(force=True)["resourceType"] == "OperationOutcome"
    assert world.send("POST", "/fhir/$validate", None, resource).status_code == 401


@pytest.mark.parametrize("who", [*WHO, "writer"])
def test_audit_events_are_for_system_scopes_only(world: World, who: str) -> None:
    search, read = world.get("/fhir/AuditEvent", who), world.get("/fhir/AuditEvent/1", who)
    if who == "system":
        assert (search.status_code, read.status_code) == (200, 200)
        assert read.get_json(force=True)["resourceType"] == "AuditEvent"
    else:
        assert (search.status_code, read.status_code) == (403, 403)


@pytest.mark.parametrize("who", WHO)
def test_post_search_type_validate_conformance_and_writes(world: World, who: str) -> None:
    """``POST /_search`` is the same search; ``/{type}/$validate`` like ``/$validate``; the guide's
    conformance resources are public; the façade takes no writes from anyone."""
    a_patient = world.patients["A"]
    form = world.client.post("/fhir/Goal/_search", data={"patient": a_patient}, headers=world.headers(who))
    if who == "user_careplan":
        assert form.status_code == 403
    else:
        found = form.get_json(force=True)
        owners = {owner(world, e["resource"]) for e in found.get("entry", [])}
        assert owners == (set() if who == "patient_b" else {"A"}) and found["total"] == len(found.get("entry", []))
    goal = {"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "x"},
            "subject": {"reference": "Patient/x"}}
    assert world.send("POST", "/fhir/Goal/$validate", who, goal).status_code == 200
    assert world.get("/fhir/StructureDefinition?_count=1", who).status_code == 200
    plan = world.fhir("CarePlan", "A")
    for method in ("PUT", "DELETE", "PATCH"):
        assert world.send(method, f"/fhir/CarePlan/{plan['id']}", who, plan).status_code == 405
    assert world.send("POST", "/fhir/CarePlan", who, plan).status_code == 405
