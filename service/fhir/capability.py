"""The CapabilityStatement: only what the façade implements, with the ETMI profiles it serves."""

from __future__ import annotations

from typing import Any

from mappings import canonical as c
from service.fhir.params import CONFORMANCE, INCLUDES, STORED, fhir_type
from service.ig import CONFORMANCE_TYPES, Package

VALIDATE = "http://hl7.org/fhir/OperationDefinition/Resource-validate"
#: FHIR Bulk Data Access 2.0 (``service.fhir.bulk``): system and Patient-level $export, system/ scopes only.
BULK_DATA = "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"
EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
PATIENT_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"


def _search_params(names: dict[str, Any]) -> list[dict[str, str]]:
    params = [{"name": "_id", "type": "token"}]
    if names is not CONFORMANCE:
        params.append({"name": "_lastUpdated", "type": "date"})
    return params + [{"name": n, "type": fhir_type(k)} for n, k in names.items()]


def _resource(rtype: str, package: Package, conformance: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": rtype}
    profiles = sorted(sd["url"] for sd in package.resources("StructureDefinition")
                      if sd.get("type") == rtype and sd.get("derivation") == "constraint" and sd.get("url"))
    if profiles:
        entry["supportedProfile"] = profiles
    interactions = ["read", "search-type"] if conformance else ["read", "vread", "search-type", "history-instance"]
    entry["interaction"] = [{"code": i} for i in interactions]
    if not conformance:
        entry.update({"versioning": "versioned", "readHistory": True, "conditionalRead": "not-supported"})
    includes = [f"{t}:{p}" for (t, p) in INCLUDES if t == rtype]
    if includes:
        entry["searchInclude"] = includes
    entry["searchParam"] = _search_params(CONFORMANCE if conformance else STORED[rtype])
    entry["operation"] = [{"name": "validate", "definition": VALIDATE}]
    if rtype == "Patient":
        entry["operation"].append({"name": "export", "definition": PATIENT_EXPORT})
    return entry


#: The audit trail (``service.api.audit``): read and search with ``system/`` scopes only.
AUDIT_EVENT_PARAMS = [("_id", "token"), ("date", "date"), ("patient", "reference"), ("entity", "reference"),
                      ("subtype", "token"), ("action", "token"), ("outcome", "token"), ("altid", "token")]


def _audit_event() -> dict[str, Any]:
    return {"type": "AuditEvent", "interaction": [{"code": "read"}, {"code": "search-type"}],
            "documentation": "The audit trail (reads, searches, writes and denials of patient data, IHE BALP); "
                             "system/ scopes only.",
            "searchParam": [{"name": n, "type": t} for n, t in AUDIT_EVENT_PARAMS]}


def capability_statement(package: Package, base_url: str, date: str, secured: bool) -> dict[str, Any]:
    resources = [_resource(t, package, False) for t in STORED]
    resources += [_resource(t, package, True) for t in CONFORMANCE_TYPES]
    resources.append(_audit_event())
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": "Read-only façade over the ETMI service store; writes go through /api/v1.",
        "resource": resources,
        "operation": [{"name": "validate", "definition": VALIDATE}, {"name": "export", "definition": EXPORT}],
    }
    if secured:
        rest["security"] = {
            "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                     "code": "SMART-on-FHIR"}]}],
            "description": "Bearer JWT access tokens (SMART scopes system/*.rs, user/*.cruds, patient/*.rs).",
        }
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "etmi-fhir",
        "kind": "instance",
        "software": {"name": "etmi-fhir", "version": "0.1.0"},
        "implementation": {"description": "ETMI FHIR façade", "url": base_url},
        "fhirVersion": c.FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "implementationGuide": [c.ETMI_IG],
        "instantiates": [BULK_DATA],
        "rest": [rest],
    }
