"""``security.audit_event``: the whole AuditEvent of an audit record, compared with the codes it promises
(FHIR R4 audit-event-type, restful-interaction, audit-event-action, audit-entity-type, object-role,
security-source-type, v3-ParticipationType; DICOM 110152/110153; IHE BALP XrequestId). Written against the
survivors of the mutation run of ``service/security/`` (docs/mutation/security.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from service.security.audit_event import DENIED, SUCCESS, AuditRecord, audit_event

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ENTITY = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
AT = datetime(2026, 1, 5, 9, 0, 1, 234567)


def coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


SOURCE = {"observer": {"display": "etmi-fhir"},
          "type": [coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")]}
SERVER = {"type": {"coding": [coding(DCM, "110152", "Destination Role ID")]}, "who": {"display": "etmi-fhir"},
          "requestor": False}
PATIENT_P1 = {"what": {"reference": "Patient/p1"}, "type": coding(ENTITY, "1", "Person"),
              "role": coding(ROLE, "1", "Patient")}


def head(subtype: str, action: str, outcome: str = "0") -> dict[str, Any]:
    return {"resourceType": "AuditEvent",
            "type": coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "RESTful Operation"),
            "subtype": [coding("http://hl7.org/fhir/restful-interaction", subtype, subtype)], "action": action,
            "recorded": "2026-01-05T09:00:01.234Z", "outcome": outcome}


def test_a_users_read_through_a_client_app() -> None:
    event = audit_event(AuditRecord(at=AT, actor="user-7", action="vread", resource_type="Goal", resource_id="g1",
                                    version_id=2, patient_id="p1", request_id="req-1", client="app-3",
                                    issuer="https://issuer.example"))
    assert event == {**head("vread", "R"), "agent": [
        {"type": {"coding": [coding(DCM, "110153", "Source Role ID")]},
         "who": {"identifier": {"system": "https://issuer.example", "value": "app-3"}}, "requestor": False},
        {"type": {"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP",
                                    "information recipient")]},
         "who": {"identifier": {"system": "https://issuer.example", "value": "user-7"}}, "requestor": True,
         "altId": "user-7"},
        SERVER,
    ], "source": SOURCE, "entity": [
        PATIENT_P1,
        {"what": {"reference": "Goal/g1/_history/2"}, "type": coding(ENTITY, "2", "System Object"),
         "role": coding(ROLE, "4", "Domain Resource")},
        {"what": {"identifier": {"value": "req-1"}},
         "type": {"system": "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType", "code": "XrequestId"}},
    ]}


def test_a_denied_search_by_a_backend_client() -> None:
    """The client is the user (one agent, the requestor); the query names its parameters once, sorted."""
    event = audit_event(AuditRecord(at=AT, actor="sys-1", action="search", resource_type="Observation",
                                    patient_id="p1", outcome=DENIED, params=("patient", "code", "patient")))
    assert event == {**head("search-type", "E", "4"), "outcomeDesc": "access denied", "agent": [
        {"type": {"coding": [coding(DCM, "110153", "Source Role ID")]}, "who": {"identifier": {"value": "sys-1"}},
         "requestor": True, "altId": "sys-1"},
        SERVER,
    ], "source": SOURCE, "entity": [
        PATIENT_P1,
        {"type": coding(ENTITY, "2", "System Object"), "role": coding(ROLE, "24", "Query"), "name": "Observation",
         "detail": [{"type": "parameter-names", "valueString": "code,patient"}]},
    ]}


def test_the_patient_itself_is_one_entity_unless_a_version_is_named() -> None:
    def entities(**fields: Any) -> list[Any]:
        record = AuditRecord(at=AT, actor="a", action="read", resource_type="Patient", patient_id="p1", **fields)
        return [e.get("what") for e in audit_event(record)["entity"]]

    assert entities(resource_id="p1") == [{"reference": "Patient/p1"}]
    assert entities(resource_id="p1", version_id=3) == [{"reference": "Patient/p1"},
                                                        {"reference": "Patient/p1/_history/3"}]
    assert entities(resource_id="p9") == [{"reference": "Patient/p1"}, {"reference": "Patient/p9"}]
    goal = AuditRecord(at=AT, actor="a", action="read", resource_type="Goal", resource_id="p1", patient_id="p1")
    assert [e["what"] for e in audit_event(goal)["entity"]] == [{"reference": "Patient/p1"}, {"reference": "Goal/p1"}]


@pytest.mark.parametrize("action,subtype,code", [
    ("read", "read", "R"), ("vread", "vread", "R"), ("history", "history-instance", "R"),
    ("search", "search-type", "E"), ("create", "create", "C"), ("update", "update", "U")])
def test_each_interaction(action: str, subtype: str, code: str) -> None:
    event = audit_event(AuditRecord(at=AT, actor="a", action=action, resource_type="Goal"))
    assert event["subtype"] == [coding("http://hl7.org/fhir/restful-interaction", subtype, subtype)]
    assert event["action"] == code and event["outcome"] == SUCCESS == "0" and "outcomeDesc" not in event
    assert event["entity"] == ([{"type": coding(ENTITY, "2", "System Object"), "role": coding(ROLE, "24", "Query"),
                                 "name": "Goal"}] if action == "search" else [])


def test_record_defaults() -> None:
    record = AuditRecord(at=AT, actor="a", action="read", resource_type="Goal")
    assert (record.resource_id, record.version_id, record.patient_id, record.request_id, record.outcome,
            record.client, record.issuer, record.params) == (None, None, None, None, "0", None, None, ())
    assert DENIED == "4"
