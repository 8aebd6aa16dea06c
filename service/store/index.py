"""What the store indexes of a FHIR resource for the façade's searches (pure functions).

Dates become UTC ranges ``[low, high]`` written as fixed-width strings (``%Y-%m-%dT%H:%M:%S.%f``),
so range comparisons are string comparisons on SQLite and PostgreSQL alike. A date or dateTime
without a zone is read as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from service.limits import DateError, date_range  # the one date parser (ranges clamped to the calendar)

__all__ = ["DateError", "ResourceIndex", "date_range", "index_resource", "instant_string"]

#: Per type: the element holding the date searched by ``date_param`` and the element for ``status``.
DATE_ELEMENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Observation": ("date", ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued")),
    "Procedure": ("date", ("performedDateTime", "performedPeriod")),
    "CarePlan": ("date", ("period",)),
    "QuestionnaireResponse": ("authored", ("authored",)),
    "Goal": ("start-date", ("startDate",)),
    "Condition": ("recorded-date", ("recordedDate",)),
}
STATUS_ELEMENTS: dict[str, tuple[str, str]] = {
    "Observation": ("status", "status"), "Procedure": ("status", "status"), "CarePlan": ("status", "status"),
    "QuestionnaireResponse": ("status", "status"), "Goal": ("lifecycle-status", "lifecycleStatus"),
}
CODE_ELEMENTS: dict[str, str] = {"Observation": "code", "Procedure": "code", "Condition": "code"}
PATIENT_ELEMENTS: dict[str, str] = {
    "Observation": "subject", "Procedure": "subject", "CarePlan": "subject", "QuestionnaireResponse": "subject",
    "Goal": "subject", "Condition": "subject",
}


def instant_string(moment: datetime) -> str:
    """A stored timestamp (naive UTC) as a FHIR instant."""
    aware = moment.replace(tzinfo=UTC)
    return aware.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class ResourceIndex:
    patient_id: str | None = None
    status: str | None = None
    date_low: str | None = None
    date_high: str | None = None
    tokens: list[tuple[str, str | None, str]] = field(default_factory=list)


def _codings(concept: Any) -> list[tuple[str | None, str]]:
    if not isinstance(concept, dict):
        return []
    return [(c.get("system"), str(c["code"])) for c in concept.get("coding", []) if c.get("code")]


def _dates(resource: dict[str, Any], elements: tuple[str, ...]) -> tuple[str, str] | None:
    for element in elements:
        value = resource.get(element)
        if isinstance(value, str):
            return date_range(value)
        if isinstance(value, dict) and value.get("start"):
            low = date_range(value["start"])[0]
            high = date_range(value["end"])[1] if value.get("end") else "9999-12-31T23:59:59.999999"
            return low, high
    return None


def index_resource(resource: dict[str, Any]) -> ResourceIndex:
    rtype = resource["resourceType"]
    out = ResourceIndex()
    if rtype == "Patient":
        out.patient_id = resource.get("id")
    elif rtype in PATIENT_ELEMENTS:
        ref = (resource.get(PATIENT_ELEMENTS[rtype]) or {}).get("reference", "")
        if ref.startswith("Patient/"):
            out.patient_id = ref.removeprefix("Patient/")
    if rtype in STATUS_ELEMENTS:
        out.status = resource.get(STATUS_ELEMENTS[rtype][1])
    if rtype in DATE_ELEMENTS and (span := _dates(resource, DATE_ELEMENTS[rtype][1])):
        out.date_low, out.date_high = span
    if rtype in CODE_ELEMENTS:
        out.tokens += [("code", s, c) for s, c in _codings(resource.get(CODE_ELEMENTS[rtype]))]
    for category in resource.get("category", []) if isinstance(resource.get("category"), list) else []:
        out.tokens += [("category", s, c) for s, c in _codings(category)]
    idents = resource.get("identifier", [])
    for ident in [idents] if isinstance(idents, dict) else idents:
        if ident.get("value"):
            out.tokens.append(("identifier", ident.get("system"), str(ident["value"])))
    return out
