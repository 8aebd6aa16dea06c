"""FHIR R4 AuditEvent resources of the audit trail (IHE Basic Audit Log Patterns where they fit).

Pure: ``AuditRecord`` (what happened) -> ``audit_event`` (the resource). Type ``rest``; subtype the RESTful
interaction (read, vread, history-instance, search-type, create, update); outcome 0 (success) or 4
(denied); agents: the client (DICOM 110153 Source Role ID) and, when the token names a user other than
the client, the user (v3 ParticipationType IRCP), then this server (DICOM 110152 Destination Role ID);
entities: the patient (Person / Patient), the resource (System Object / Domain Resource), a search's
query (System Object / Query: parameter *names* only, never values) and the request id (BALP
``XrequestId``). Nothing identifying but references and ids: no names, identifiers, values or bodies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
BALP_ENTITY = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
SUCCESS, DENIED = "0", "4"

#: action -> (http://hl7.org/fhir/restful-interaction code, AuditEvent.action)
ACTIONS: dict[str, tuple[str, str]] = {
    "read": ("read", "R"), "vread": ("vread", "R"), "history": ("history-instance", "R"),
    "search": ("search-type", "E"), "create": ("create", "C"), "update": ("update", "U"),
}


@dataclass(frozen=True)
class AuditRecord:
    at: datetime  # naive UTC
    actor: str  # the token's subject (or "dev-mode", "sync:<target>")
    action: str  # a key of ACTIONS
    resource_type: str
    resource_id: str | None = None
    version_id: int | None = None
    patient_id: str | None = None
    request_id: str | None = None
    outcome: str = SUCCESS
    client: str | None = None  # the token's client_id, when it differs from the subject
    issuer: str | None = None
    params: tuple[str, ...] = ()  # search parameter names (values are never recorded)


#: ``once(key, make)``: ``make()``, or the value an earlier call with the same key made (``audit_events``)
Once = Callable[[tuple[Any, ...], Callable[[], Any]], Any]


def _fresh(_key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    return make()


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def _agents(record: AuditRecord) -> list[dict[str, Any]]:
    def who(value: str) -> dict[str, Any]:
        return {"identifier": {"system": record.issuer, "value": value} if record.issuer else {"value": value}}
    client = record.client or record.actor
    agents: list[dict[str, Any]] = [{"type": {"coding": [_coding(DCM, "110153", "Source Role ID")]},
                                     "who": who(client), "requestor": client == record.actor}]
    if client != record.actor:
        agents.append({"type": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                                   "IRCP", "information recipient")]},
                       "who": who(record.actor), "requestor": True})
    agents[-1]["altId"] = record.actor  # the token's subject: searched as ``altid``
    agents.append({"type": {"coding": [_coding(DCM, "110152", "Destination Role ID")]},
                   "who": {"display": "etmi-fhir"}, "requestor": False})
    return agents


def _entities(record: AuditRecord, once: Once) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if record.patient_id:
        entities.append(once(("patient", record.patient_id), lambda: {
            "what": {"reference": f"Patient/{record.patient_id}"}, "type": _coding(ENTITY_TYPE, "1", "Person"),
            "role": _coding(OBJECT_ROLE, "1", "Patient")}))
    if record.resource_id and not (record.resource_type == "Patient" and record.resource_id == record.patient_id
                                   and record.version_id is None):
        ref = f"{record.resource_type}/{record.resource_id}"
        ref += f"/_history/{record.version_id}" if record.version_id else ""
        entities.append({"what": {"reference": ref}, "type": once(("object",), lambda: _coding(
            ENTITY_TYPE, "2", "System Object")), "role": once(("domain",), lambda: _coding(
                OBJECT_ROLE, "4", "Domain Resource"))})
    if record.action == "search":
        query: dict[str, Any] = {"type": _coding(ENTITY_TYPE, "2", "System Object"),
                                 "role": _coding(OBJECT_ROLE, "24", "Query"), "name": record.resource_type}
        if record.params:
            query["detail"] = [{"type": "parameter-names", "valueString": ",".join(sorted(set(record.params)))}]
        entities.append(query)
    if record.request_id:
        entities.append(once(("request", record.request_id), lambda: {
            "what": {"identifier": {"value": record.request_id}}, "type": {"system": BALP_ENTITY,
                                                                           "code": "XrequestId"}}))
    return entities


def audit_event(record: AuditRecord, once: Once = _fresh) -> dict[str, Any]:
    """The AuditEvent (without ``id``: the store assigns it)."""
    subtype, action = ACTIONS[record.action]
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": once(("type",), lambda: _coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest",
                                                "RESTful Operation")),
        "subtype": once(("subtype", subtype), lambda: [_coding("http://hl7.org/fhir/restful-interaction", subtype,
                                                                subtype)]),
        "action": action,
        "recorded": once(("at", record.at), lambda: record.at.replace(tzinfo=UTC).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")),
        "outcome": record.outcome,
    }
    if record.outcome != SUCCESS:
        event["outcomeDesc"] = "access denied"
    event["agent"] = once(("agents", record.actor, record.client, record.issuer), lambda: _agents(record))
    event["source"] = once(("source",), lambda: {"observer": {"display": "etmi-fhir"}, "type": [_coding(
        "http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")]})
    event["entity"] = _entities(record, once)
    return event


def audit_events(records: Sequence[AuditRecord]) -> list[dict[str, Any]]:
    """``[audit_event(r) for r in records]``, equal to it, but what records of one write share (the agents, the
    source, the patient and request entities, the time) is built once and shared by their events: read them,
    do not change them in place. About half the cost for the 35 records of an episode, built in its write lock."""
    shared: dict[tuple[Any, ...], Any] = {}

    def once(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        if key not in shared:
            shared[key] = make()
        return shared[key]

    return [audit_event(record, once) for record in records]
