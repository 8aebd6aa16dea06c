"""The outbox: writes waiting to reach an EHR, and the repository the sync workers use.

An entry is inserted by ``enqueue`` inside the transaction that stores the data, so an accepted
write is never lost and never sent without being stored. Workers ``claim`` due entries under a
lease, then end each claim with ``mark_sent``, ``mark_failed`` or ``dead_letter``.

Each row is for one EHR ``target`` (``enqueue`` writes one row per configured target), or for every
target when ``target`` is NULL. Entries leave in order per (patient, target): an entry is claimable only
while no older entry of the same patient *and the same target* is still pending, failed (waiting for
a retry) or in flight; a NULL-target row counts as a row of every target, so it waits for, and holds
back, the older and younger rows of all targets of its patient. So one EHR that is down or refuses an
entry never holds back another EHR's entries. Dead letters do not block.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, case, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from service.store.db import table, transaction, utcnow
from service.store.models import IdMapRow, OutboxRow
from service.store.wakeup import notify

Operation = Literal["transaction", "create", "update", "delete"]
Status = Literal["pending", "in-flight", "sent", "failed", "dead"]
#: Per target and status: entries, attempts beyond the first (summed), the oldest ``created_at``.
Gauge = tuple[str | None, str, int, int, datetime | None]
WAITING: tuple[str, ...] = ("pending", "failed", "in-flight")


@dataclass(frozen=True)
class OutboxEntry:
    """A claimed outbox row. ``resource`` is the FHIR JSON to send (a Bundle for ``transaction``)."""

    id: int
    patient_key: str
    target: str | None
    resource_type: str
    local_id: str
    resource: dict[str, Any]
    operation: str
    attempts: int
    next_attempt_at: datetime
    status: str
    worker_id: str | None
    lease_until: datetime | None
    created_at: datetime
    last_error: str | None = None
    outcome: dict[str, Any] | None = None


def _entry(row: OutboxRow) -> OutboxEntry:
    return OutboxEntry(
        id=row.id, patient_key=row.patient_key, target=row.target, resource_type=row.resource_type,
        local_id=row.local_id,
        resource=row.resource, operation=row.operation, attempts=row.attempts,
        next_attempt_at=row.next_attempt_at, status=row.status, worker_id=row.claimed_by,
        lease_until=row.lease_until, created_at=row.created_at, last_error=row.last_error, outcome=row.outcome,
    )


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def enqueue(
    session: Session, *, patient_key: str, resource_type: str, local_id: str, operation: Operation,
    resource: dict[str, Any], targets: Sequence[str] = (), now: datetime | None = None,
) -> list[OutboxRow]:
    """Add one entry per target name in the caller's transaction (the one that stores the data); with
    no target, one entry with ``target = NULL``: every target configured when it is sent. On PostgreSQL the
    idle workers are notified when that transaction commits (``service/store/wakeup.py``)."""
    rows = [OutboxRow(**values) for values in _entries(patient_key, resource_type, local_id, operation, resource,
                                                       targets, now or utcnow())]
    session.add_all(rows)
    notify(session)
    return rows


def enqueue_ids(
    session: Session, *, patient_key: str, resource_type: str, local_id: str, operation: Operation,
    resource: dict[str, Any], targets: Sequence[str] = (), now: datetime | None = None,
) -> list[int]:
    """``enqueue`` as one Core ``INSERT .. RETURNING id`` on the session's connection, the ids in target order:
    no ORM object to build and flush (the episode writes' form, inside the write lock)."""
    rows = _entries(patient_key, resource_type, local_id, operation, resource, targets, now or utcnow())
    ids = [int(row_id) for (row_id,) in session.connection().execute(_INSERT_ENTRIES, rows)]
    notify(session)
    return ids


#: built once (the statement object is its compiled-cache key); ids in the order of the rows
_INSERT_ENTRIES = insert(table(OutboxRow)).returning(table(OutboxRow).c.id, sort_by_parameter_order=True)


def _entries(patient_key: str, resource_type: str, local_id: str, operation: Operation, resource: dict[str, Any],
             targets: Sequence[str], moment: datetime) -> list[dict[str, Any]]:
    names: list[str | None] = [*targets] or [None]
    return [{"patient_key": patient_key, "target": target, "resource_type": resource_type, "local_id": local_id,
             "operation": operation, "resource": resource, "status": "pending", "attempts": 0,
             "next_attempt_at": moment, "created_at": moment, "updated_at": moment} for target in names]


class OutboxRepository:
    """What the sync workers call. Every method is one short transaction."""

    def __init__(self, factory: sessionmaker[Session], clock: Callable[[], datetime] = utcnow) -> None:
        self._factory = factory
        self._clock = clock

    def _now(self) -> datetime:
        return naive_utc(self._clock())

    def claim(self, batch_size: int, worker_id: str, lease_seconds: float) -> list[OutboxEntry]:
        """Lease up to ``batch_size`` due entries (oldest first) to ``worker_id``."""
        now = self._now()
        with transaction(self._factory) as session:
            query = select(OutboxRow).where(self._due(now)).order_by(OutboxRow.id).limit(batch_size)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(session.scalars(query))
            for row in rows:
                row.status, row.claimed_by = "in-flight", worker_id
                row.lease_until = now + timedelta(seconds=lease_seconds)
                row.attempts += 1
                row.updated_at = now
            return [_entry(row) for row in rows]

    @staticmethod
    def _due(now: datetime) -> Any:
        older = aliased(OutboxRow)
        blocked = exists().where(
            older.patient_key == OutboxRow.patient_key, older.id < OutboxRow.id,
            or_(older.target == OutboxRow.target, older.target.is_(None), OutboxRow.target.is_(None)),
            or_(older.status.in_(("pending", "failed")),
                and_(older.status == "in-flight", older.lease_until >= now)),
        )
        ready = or_(
            and_(OutboxRow.status.in_(("pending", "failed")), OutboxRow.next_attempt_at <= now),
            and_(OutboxRow.status == "in-flight", OutboxRow.lease_until < now),
        )
        return and_(ready, ~blocked)

    def _finish(self, entry: OutboxEntry, **values: Any) -> bool:
        """End a claim; False when the lease was lost (another worker owns the entry now)."""
        with transaction(self._factory) as session:
            result = session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == entry.id, OutboxRow.status == "in-flight",
                       OutboxRow.claimed_by == entry.worker_id)
                .values(claimed_by=None, lease_until=None, updated_at=self._now(), **values)
            )
            return bool(getattr(result, "rowcount", 0))

    def mark_sent(self, entry: OutboxEntry, remote_ids: Mapping[str, str], target: str | None = None) -> bool:
        """Record success. ``remote_ids`` maps local references (``Goal/g1``) to the EHR's
        (``Goal/123`` or ``Goal/123/_history/2``); they go to the id map of ``target`` (default: the
        entry's own target, else ``"default"``)."""
        if not self._finish(entry, status="sent", remote_ids=dict(remote_ids), last_error=None):
            return False
        name = target or entry.target or "default"
        with transaction(self._factory) as session:
            for local, remote in remote_ids.items():
                _put_id(session, name, local, remote, self._now())
        return True

    def mark_failed(self, entry: OutboxEntry, error: str, retry_at: datetime) -> bool:
        """A retryable failure: the entry is due again at ``retry_at``. ``error`` holds no bodies."""
        return self._finish(
            entry, status="failed", last_error=error[:2000], next_attempt_at=naive_utc(retry_at)
        )

    def dead_letter(self, entry: OutboxEntry, outcome: Mapping[str, Any]) -> bool:
        """Give up on the entry; ``outcome`` is the OperationOutcome that explains why."""
        return self._finish(entry, status="dead", outcome=dict(outcome))

    def renew(self, entries: Sequence[OutboxEntry], lease_seconds: float) -> bool:
        """Extend the lease of claimed entries by ``lease_seconds`` from now; False when any of them is
        no longer this claim's (its lease ran out and another worker took it)."""
        if not entries:
            return True
        now = self._now()
        with transaction(self._factory) as session:
            result = session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_([e.id for e in entries]), OutboxRow.status == "in-flight",
                       OutboxRow.claimed_by == entries[0].worker_id)
                .values(lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
            )
            return bool(getattr(result, "rowcount", 0) == len(entries))

    def replay(self, ids: Iterable[int]) -> int:
        """Queue failed or dead entries again, now, with a fresh attempt count."""
        with transaction(self._factory) as session:
            result = session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(list(ids)), OutboxRow.status.in_(("failed", "dead")))
                .values(status="pending", attempts=0, next_attempt_at=self._now(), outcome=None,
                        claimed_by=None, lease_until=None, updated_at=self._now())
            )
            notify(session)
            return int(getattr(result, "rowcount", 0))

    def get(self, entry_id: int) -> OutboxEntry | None:
        with self._factory() as session:
            row = session.get(OutboxRow, entry_id)
            return _entry(row) if row else None

    def list(self, status: str | Sequence[str], limit: int = 50, target: str | None = None,
             newest_first: bool = False) -> list[OutboxEntry]:
        """Entries of a status (or of any of several), of one ``target`` or all, oldest first (or newest):
        for operators, ``last_error`` and ``outcome`` say why."""
        statuses = [status] if isinstance(status, str) else list(status)
        query = select(OutboxRow).where(OutboxRow.status.in_(statuses))
        if target:
            query = query.where(OutboxRow.target == target)
        order = OutboxRow.id.desc() if newest_first else OutboxRow.id
        with self._factory() as session:
            return [_entry(row) for row in session.scalars(query.order_by(order).limit(limit))]

    def gauges(self) -> builtins.list[Gauge]:
        """Per target and status: entries, attempts beyond the first (summed) and the oldest ``created_at``."""
        with self._factory() as session:
            rows = session.execute(
                select(OutboxRow.target, OutboxRow.status, func.count(),
                       func.sum(case((OutboxRow.attempts > 1, OutboxRow.attempts - 1), else_=0)),
                       func.min(OutboxRow.created_at))
                .group_by(OutboxRow.target, OutboxRow.status))
            return [(target, status, n, int(retried or 0), first) for target, status, n, retried, first in rows]

    def counts(self) -> dict[str, int]:
        """Entries per status, for health pages and tests."""
        totals: dict[str, int] = {}
        for per_status in self.counts_by_target().values():
            for status, n in per_status.items():
                totals[status] = totals.get(status, 0) + n
        return totals

    def counts_by_target(self) -> dict[str | None, dict[str, int]]:
        """Entries per target and status (``None``: the rows for every target)."""
        with self._factory() as session:
            rows = session.execute(select(OutboxRow.target, OutboxRow.status, func.count())
                                   .group_by(OutboxRow.target, OutboxRow.status))
            totals: dict[str | None, dict[str, int]] = {}
            for target, status, n in rows:
                totals.setdefault(target, {})[status] = n
            return totals


def by_target_label(counts: Mapping[str | None, dict[str, int]]) -> dict[str, dict[str, int]]:
    """``counts_by_target`` for JSON and operators: ``"*"`` stands for the rows for every target."""
    return {"*" if target is None else target: per for target, per in sorted(counts.items(), key=lambda i: i[0] or "")}


def _put_id(session: Session, target: str, local: str, remote: str, now: datetime) -> None:
    resource_type, _, local_id = local.partition("/")
    parts = remote.split("/")
    remote_id = parts[1] if len(parts) > 1 else remote
    version = parts[3] if len(parts) > 3 and parts[2] == "_history" else None
    row = session.scalar(select(IdMapRow).where(
        IdMapRow.target == target, IdMapRow.resource_type == resource_type, IdMapRow.local_id == local_id))
    if row is None:
        session.add(IdMapRow(target=target, resource_type=resource_type, local_id=local_id,
                             remote_id=remote_id, remote_version=version, updated_at=now))
    else:
        row.remote_id, row.remote_version, row.updated_at = remote_id, version, now


class IdMap:
    """Local id to remote id, per EHR target."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def get(self, target: str, resource_type: str, local_id: str) -> tuple[str, str | None] | None:
        """The remote ``(id, version)`` of a local resource on ``target``, if it was sent."""
        with self._factory() as session:
            row = session.scalar(select(IdMapRow).where(
                IdMapRow.target == target, IdMapRow.resource_type == resource_type,
                IdMapRow.local_id == local_id))
            return (row.remote_id, row.remote_version) if row else None

    def put(self, target: str, resource_type: str, local_id: str, remote_id: str,
            remote_version: str | None = None) -> None:
        remote = f"{resource_type}/{remote_id}" + (f"/_history/{remote_version}" if remote_version else "")
        with transaction(self._factory) as session:
            _put_id(session, target, f"{resource_type}/{local_id}", remote, utcnow())

    def local_id(self, target: str, resource_type: str, remote_id: str) -> str | None:
        with self._factory() as session:
            return session.scalar(select(IdMapRow.local_id).where(
                IdMapRow.target == target, IdMapRow.resource_type == resource_type,
                IdMapRow.remote_id == remote_id))
