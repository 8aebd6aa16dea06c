"""What the store indexes of a FHIR resource for the façade's searches (pure functions).

Dates become UTC ranges ``[low, high]`` written as fixed-width strings (``%Y-%m-%dT%H:%M:%S.%f``),
so range comparisons are string comparisons on SQLite and PostgreSQL alike. A date or dateTime
without a zone is read as UTC.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

_FMT = "%Y-%m-%dT%H:%M:%S.%f"
_DATE = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(?P<f>\.\d+)?)?"
    r"(?P<z>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)

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


class DateError(ValueError):
    pass


def date_range(value: str) -> tuple[str, str]:
    """The UTC instant range a FHIR date, dateTime or instant covers."""
    match = _DATE.match(value.strip())
    if not match:
        raise DateError(f"not a FHIR date or dateTime: {value!r}")
    parts = match.groupdict()
    year, month, day = int(parts["y"]), int(parts["m"] or 1), int(parts["d"] or 1)
    try:
        if parts["H"] is None:
            low = datetime(year, month, day)
            if parts["d"]:
                high = low + timedelta(days=1)
            elif parts["m"]:
                high = low + timedelta(days=calendar.monthrange(year, month)[1])
            else:
                high = datetime(year + 1, 1, 1)
            return low.strftime(_FMT), (high - timedelta(microseconds=1)).strftime(_FMT)
        return _time_range(low_date=datetime(year, month, day), parts=parts)
    except ValueError as err:
        raise DateError(f"not a valid date: {value!r}") from err


def _time_range(low_date: datetime, parts: dict[str, str | None]) -> tuple[str, str]:
    fraction = parts["f"] or ""
    moment = low_date.replace(hour=int(parts["H"] or 0), minute=int(parts["M"] or 0), second=int(parts["S"] or 0),
                              microsecond=int((fraction[1:] + "000000")[:6]) if fraction else 0)
    zone = parts["z"]
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    step = timedelta(microseconds=1) if fraction else timedelta(seconds=1 if parts["S"] else 60)
    return moment.strftime(_FMT), (moment + step - timedelta(microseconds=1)).strftime(_FMT)


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
