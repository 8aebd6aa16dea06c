"""The audit trail as FHIR R4 AuditEvents: valid resources, searchable at /fhir/AuditEvent, the same rows
as /api/v1/audit, and nothing identifying in them (no identifiers, search values, names or bodies)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from service.fhir.validator import validate
from service.security.audit_event import AuditRecord, audit_event
from service.store.db import transaction, utcnow
from service.store.models import AuditRow
from tests.service.conftest import outcome_of


@pytest.mark.parametrize("action", ["read", "vread", "history", "search", "create", "update"])
@pytest.mark.parametrize("outcome", ["0", "4"])
def test_every_audit_event_is_valid_fhir_r4(action: str, outcome: str) -> None:
    event = audit_event(AuditRecord(
        at=datetime(2026, 1, 5, 9, 0), actor="user-7", action=action, resource_type="Goal",
        resource_id=None if action == "search" else "g1", version_id=2 if action in ("vread", "update") else None,
        patient_id="p1", request_id="req-1", outcome=outcome, client="app-3", issuer="https://issuer.example",
        params=("patient", "date") if action == "search" else ()))
    issues = [i for i in validate({**event, "id": "1"}, None)["issue"] if i["severity"] in ("error", "fatal")]
    assert issues == []
    assert event["type"]["code"] == "rest" and event["outcome"] == outcome
    assert [a["requestor"] for a in event["agent"]] == [False, True, False]  # client, user, this server


@pytest.fixture
def audited(client: FlaskClient, episode: dict[str, Any]) -> dict[str, Any]:
    """An episode written, its CarePlan read, a search by identifier and a missing read."""
    written = client.post("/api/v1/episodes", json=episode).get_json()
    plan = next(r["reference"] for r in written["resources"] if r["reference"].startswith("CarePlan/"))
    assert client.get(f"/fhir/{plan}").status_code == 200
    ident = f"{episode['patient']['system']}|{episode['patient']['value']}"
    assert client.get("/fhir/Patient", query_string={"identifier": ident}).get_json(force=True)["total"] == 1
    return {"patient": written["patient_id"], "plan": plan}


def _events(client: FlaskClient, query: str) -> list[dict[str, Any]]:
    bundle = client.get(f"/fhir/AuditEvent?{query}").get_json(force=True)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset", bundle
    return [e["resource"] for e in bundle.get("entry", [])]


def test_search_parameters(client: FlaskClient, audited: dict[str, Any]) -> None:
    patient, plan = audited["patient"], audited["plan"]
    [read] = _events(client, f"subtype=read&entity={plan}")
    assert read["action"] == "R" and read["outcome"] == "0"
    assert {"reference": f"Patient/{patient}"} in [e.get("what") for e in read["entity"]]
    assert _events(client, f"_id={read['id']}") == [read]
    assert client.get(f"/fhir/AuditEvent/{read['id']}").get_json(force=True) == read
    creates = _events(client, f"patient={patient}&action=C&_count=500")
    assert len(creates) >= 7 and all(e["subtype"][0]["code"] == "create" for e in creates)
    assert _events(client, "altid=dev-mode&outcome=0&date=ge2000-01-01")
    assert _events(client, "date=lt2000-01-01") == [] and _events(client, "outcome=4") == []
    searches = _events(client, f"subtype=search-type&patient={patient}")
    assert searches and all(e["action"] == "E" for e in searches)
    query = next(e for e in searches[0]["entity"] if e.get("role", {}).get("code") == "24")
    assert query["detail"] == [{"type": "parameter-names", "valueString": "identifier"}]
    first = client.get("/fhir/AuditEvent?_count=1").get_json(force=True)
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(nxt.split("localhost", 1)[-1]).get_json(force=True)
    assert second["entry"][0]["resource"]["id"] != first["entry"][0]["resource"]["id"]
    outcome_of(client.get("/fhir/AuditEvent?name=x"), 400)
    outcome_of(client.get("/fhir/AuditEvent?date=2026-13-45"), 400)
    outcome_of(client.get("/fhir/AuditEvent?_count=many"), 400)
    outcome_of(client.get("/fhir/AuditEvent/99999999999999999999"), 404)


def test_api_listing_is_built_on_the_same_rows(client: FlaskClient, audited: dict[str, Any]) -> None:
    entries = client.get(f"/api/v1/audit?patient={audited['patient']}&action=read").get_json()["entries"]
    assert entries and all(e["outcome"] == "0" and e["patient_id"] == audited["patient"] for e in entries)
    event = client.get(f"/fhir/{entries[0]['audit_event']}").get_json(force=True)
    assert event["id"] == str(entries[0]["id"]) and event["subtype"][0]["code"] == "read"


def test_nothing_identifying_is_recorded(app: Flask, client: FlaskClient, audited: dict[str, Any],
                                         episode: dict[str, Any]) -> None:
    everything = json.dumps(_events(client, "_count=1000")) + client.get("/api/v1/audit?_count=1000").get_data(
        as_text=True)
    assert episode["patient"]["value"] not in everything  # not the identifier searched for, nor a name or body
    assert "identifier" in everything  # ... but the names of the search parameters are
    assert episode["goals"][0]["description"] not in everything


def test_rows_from_before_the_migration_render_from_their_columns(app: Flask, client: FlaskClient) -> None:
    with transaction(app.extensions["etmi"].store.sessions) as session:
        row_id = session.execute(insert(AuditRow).values(
            at=utcnow(), actor="old-client", action="update", resource_type="Goal", resource_id="g1", version_id=3,
            request_id="r-old").returning(AuditRow.id)).scalar_one()
    event = client.get(f"/fhir/AuditEvent/{row_id}").get_json(force=True)
    assert event["subtype"][0]["code"] == "update" and event["outcome"] == "0"
    assert {"reference": "Goal/g1/_history/3"} in [e.get("what") for e in event["entity"]]
