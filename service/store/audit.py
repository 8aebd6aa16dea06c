"""The audit trail's rows: one per audited interaction, each holding its FHIR AuditEvent.

``audit_rows`` turns ``AuditRecord``s into row values (for an insert in the caller's transaction, as the
writes do); ``record`` stores them in a transaction of their own (reads, searches, denials); ``query``
filters them for ``/api/v1/audit`` and ``/fhir/AuditEvent``; ``event_of`` gives a row's AuditEvent with
its ``id`` (rendered from the columns for rows from before migration 0004a).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from service.security.audit_event import AuditRecord, audit_event, audit_events
from service.store.db import table, transaction
from service.store.models import AuditRow


def audit_rows(records: Sequence[AuditRecord]) -> list[dict[str, Any]]:
    return [{"at": r.at, "actor": r.actor[:255], "action": r.action, "resource_type": r.resource_type,
             "resource_id": r.resource_id, "version_id": r.version_id, "request_id": r.request_id,
             "outcome": r.outcome, "patient_id": r.patient_id, "event": event}
            for r, event in zip(records, audit_events(records), strict=True)]


def record(sessions: sessionmaker[Session], records: Sequence[AuditRecord]) -> None:
    """Store ``records`` in a transaction of their own (never inside another write transaction)."""
    if records:
        with transaction(sessions) as session:
            session.connection().execute(insert(table(AuditRow)), audit_rows(records))


def event_of(row: AuditRow) -> dict[str, Any]:
    event = row.event or audit_event(AuditRecord(
        at=row.at, actor=row.actor, action=row.action if row.action in ("create", "update") else "read",
        resource_type=row.resource_type, resource_id=row.resource_id, version_id=row.version_id,
        patient_id=row.patient_id, request_id=row.request_id, outcome=row.outcome))
    return {**event, "id": str(row.id), "meta": {"versionId": "1"}}


@dataclass
class AuditQuery:
    """Criteria (AND-ed); each list holds OR-ed alternatives."""

    ids: list[int] = field(default_factory=list)
    actors: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)
    resource_types: list[str] = field(default_factory=list)
    resource_ids: list[str] = field(default_factory=list)
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # inclusive
    count: int = 100
    offset: int = 0


def _filtered(q: AuditQuery) -> Select[AuditRow]:
    query = select(AuditRow)
    for column, values in ((AuditRow.id, q.ids), (AuditRow.actor, q.actors), (AuditRow.action, q.actions),
                           (AuditRow.outcome, q.outcomes), (AuditRow.patient_id, q.patients),
                           (AuditRow.resource_type, q.resource_types), (AuditRow.resource_id, q.resource_ids)):
        if values:
            query = query.where(column.in_(values))
    if q.since is not None:
        query = query.where(AuditRow.at >= q.since)
    if q.until is not None:
        query = query.where(AuditRow.at <= q.until)
    return query


def query(session: Session, q: AuditQuery) -> tuple[int, list[AuditRow]]:
    """The number of matches and one page of them, newest first."""
    filtered = _filtered(q)
    total = session.scalar(select(func.count()).select_from(filtered.subquery())) or 0
    rows = list(session.scalars(filtered.order_by(AuditRow.id.desc()).offset(q.offset).limit(q.count)))
    return int(total), rows


@dataclass(frozen=True)
class AuditEntry:
    """One audit row as ``/api/v1/audit`` lists it (its FHIR AuditEvent: ``/fhir/AuditEvent/<id>``)."""

    id: int
    at: datetime
    actor: str
    action: str
    outcome: str
    resource_type: str
    resource_id: str | None
    version_id: int | None
    patient_id: str | None
    request_id: str | None


class AuditTrail:
    """The audit rows for the views (``Store.audit_trail``): each search in one read session."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def search(self, q: AuditQuery) -> tuple[int, list[AuditEntry]]:
        """The number of matches and one page of them, newest first."""
        with self._sessions() as session:
            total, rows = query(session, q)
            return total, [AuditEntry(r.id, r.at, r.actor, r.action, r.outcome, r.resource_type, r.resource_id,
                                      r.version_id, r.patient_id, r.request_id) for r in rows]

    def events(self, q: AuditQuery) -> tuple[int, list[dict[str, Any]]]:
        """The number of matches and one page of their FHIR AuditEvents (``event_of``), newest first."""
        with self._sessions() as session:
            total, rows = query(session, q)
            return total, [event_of(r) for r in rows]
