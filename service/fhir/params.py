"""The façade's search parameters per resource type: one table feeds parsing and the CapabilityStatement."""

from __future__ import annotations

from typing import Literal

ParamKind = Literal["token", "reference", "date", "status", "id", "uri", "string"]

_CLINICAL: dict[str, ParamKind] = {"patient": "reference", "subject": "reference", "identifier": "token"}

#: Stored (database) types: parameter name -> kind. ``status`` kind = the indexed status element.
STORED: dict[str, dict[str, ParamKind]] = {
    "Patient": {"identifier": "token"},
    "Observation": {**_CLINICAL, "code": "token", "category": "token", "date": "date", "status": "status"},
    "Procedure": {**_CLINICAL, "code": "token", "date": "date", "status": "status"},
    "CarePlan": {**_CLINICAL, "category": "token", "date": "date", "status": "status"},
    "Goal": {**_CLINICAL, "category": "token", "start-date": "date", "lifecycle-status": "status"},
    "QuestionnaireResponse": {**_CLINICAL, "authored": "date", "status": "status"},
    "Condition": {**_CLINICAL, "code": "token", "category": "token", "recorded-date": "date"},
}

#: Conformance types served from the guide package (in memory).
CONFORMANCE: dict[str, ParamKind] = {"url": "uri", "version": "token", "name": "string", "status": "token"}

#: ``_include`` values: (type, parameter) -> the element holding the reference(s).
INCLUDES: dict[tuple[str, str], str] = {
    ("CarePlan", "goal"): "goal", ("CarePlan", "addresses"): "addresses",
    **{(t, p): "subject" for t in STORED if t != "Patient" for p in ("patient", "subject")},
}

COMMON = ("_id", "_lastUpdated")
RESULT = ("_count", "_offset", "_include", "_format", "_sort", "_total", "_summary", "_pretty",
          "_totalMethod")  # fhirpy sends _totalMethod=count with count(); the total is always exact
SORTS = ("_lastUpdated", "-_lastUpdated", "date", "-date")


def fhir_type(kind: ParamKind) -> str:
    return {"status": "token", "id": "token"}.get(kind, kind)
