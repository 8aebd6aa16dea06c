"""Data out: NDJSON per resource type (the FHIR Bulk Data format) and a flat CSV of outcomes.

Both stream the store's current resources (``yield_per``), so memory does not grow with the data.
The CSV has the columns of the registry import (``registry.COLUMNS`` without session and etmi): one
row per patient and date, so an export can be imported elsewhere.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mappings.outcome import KIND_BY_CODE
from service.exchange.registry import INSTRUMENTS, REQUIRED
from service.store.models import FhirResourceRow, PatientRow

BATCH = 500
CSV_COLUMNS = (*REQUIRED, *INSTRUMENTS)
_COLUMN_OF = {kind: column for column, kind in INSTRUMENTS.items()}


@dataclass(frozen=True)
class Selection:
    """What to export: all types (or ``types``), changed since ``since`` and not after ``until``, only
    resources in a patient's compartment if ``patients_only``."""

    types: tuple[str, ...] | None = None
    since: datetime | None = None
    patients_only: bool = False
    until: datetime | None = None


def stored_types(sessions: sessionmaker[Session], selection: Selection) -> list[str]:
    with sessions() as session:
        query = select(FhirResourceRow.resource_type).where(FhirResourceRow.current.is_(True)).distinct()
        found = sorted(str(t) for t in session.scalars(query))
    return [t for t in found if selection.types is None or t in selection.types]


def _rows(session: Session, rtype: str, selection: Selection) -> Iterator[FhirResourceRow]:
    query = select(FhirResourceRow).where(FhirResourceRow.resource_type == rtype, FhirResourceRow.current.is_(True))
    if selection.since is not None:
        query = query.where(FhirResourceRow.last_updated >= selection.since)
    if selection.until is not None:
        query = query.where(FhirResourceRow.last_updated <= selection.until)
    if selection.patients_only:
        query = query.where(FhirResourceRow.patient_id.is_not(None))
    yield from session.scalars(query.order_by(FhirResourceRow.pk).execution_options(yield_per=BATCH))


def write_ndjson(sessions: sessionmaker[Session], rtype: str, out: IO[bytes], selection: Selection) -> int:
    """Every current ``rtype`` resource, one per line; returns how many."""
    count = 0
    with sessions() as session:
        for row in _rows(session, rtype, selection):
            out.write(orjson.dumps(row.resource) + b"\n")
            count += 1
    return count


def export_ndjson(sessions: sessionmaker[Session], directory: Path, selection: Selection,
                  progress: Callable[[str, int], None] = lambda _t, _n: None) -> dict[str, int]:
    """``<Type>.ndjson`` per stored type in ``directory``; returns the count per type."""
    counts: dict[str, int] = {}
    for rtype in stored_types(sessions, selection):
        with (directory / f"{rtype}.ndjson").open("wb") as out:
            counts[rtype] = write_ndjson(sessions, rtype, out, selection)
        progress(rtype, counts[rtype])
    return counts


def _outcomes(session: Session) -> Iterator[tuple[str, str, str, Any]]:
    """(patient id, date, CSV column, value) of every current outcome Observation, by patient and date."""
    query = (select(FhirResourceRow.patient_id, FhirResourceRow.date_low, FhirResourceRow.resource)
             .where(FhirResourceRow.resource_type == "Observation", FhirResourceRow.current.is_(True),
                    FhirResourceRow.patient_id.is_not(None))
             .order_by(FhirResourceRow.patient_id, FhirResourceRow.date_low, FhirResourceRow.pk)
             .execution_options(yield_per=BATCH))
    for patient_id, day, resource in session.execute(query):
        kind = next((KIND_BY_CODE[(c.get("system"), c.get("code"))] for c in resource.get("code", {}).get("coding", [])
                     if (c.get("system"), c.get("code")) in KIND_BY_CODE), None)
        if kind is None or kind.key not in _COLUMN_OF or not day:
            continue
        value = (resource.get("valueCodeableConcept", {}).get("coding", [{}])[0].get("code") if kind.unit is None
                 else resource.get("valueQuantity", {}).get("value"))
        if value is not None:
            yield str(patient_id), str(day)[:10], _COLUMN_OF[kind.key], value


def write_outcomes_csv(sessions: sessionmaker[Session], out: IO[str]) -> int:
    """One row per patient and date with the instrument columns of the import; returns the rows written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    written = 0
    with sessions() as session:
        identifiers: dict[str, tuple[str, str]] = {}
        for (patient_id, day), group in itertools.groupby(_outcomes(session), key=lambda o: (o[0], o[1])):
            if patient_id not in identifiers:
                identifiers.clear()  # one patient at a time: bounded
                found = session.get(PatientRow, patient_id)
                identifiers[patient_id] = (found.identifier_system, found.identifier_value) if found else ("", "")
            values: dict[str, Any] = {}
            for _, _, column, value in group:  # several of one instrument that day: the first stored
                values.setdefault(column, value)
            writer.writerow([*identifiers[patient_id], day, *(_cell(values.get(c)) for c in INSTRUMENTS)])
            written += 1
    return written


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

