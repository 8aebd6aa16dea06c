"""The episode repository (``service.episodes.ports.EpisodeRepository``) on SQLAlchemy: one ``unit()`` is one
``db.transaction`` holding the episode record, the FHIR resources, the outbox rows, the audit rows and the
idempotency reply; a unique-key race surfaces as ``WriteCollision``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.episodes.ports import EpisodeRecord, PatientRecord, PreparedResources, StoredReply, WriteCollision
from service.security.audit_event import AuditRecord
from service.store.audit import audit_rows, record
from service.store.db import insert_rows, table, transaction
from service.store.models import AuditRow, DomainRecord, IdempotencyRow, PatientRow
from service.store.outbox import enqueue_ids
from service.store.prepared import PreparedBatch, prepare
from service.store.resources import Saved, save_resources


def _episode(row: Any) -> EpisodeRecord:
    """A ``DomainRecord`` or a row of ``_LOCK``."""
    return EpisodeRecord(row.business_id, row.patient_id, row.data, row.version)


def _reply(session: Session, key: str) -> StoredReply | None:
    row = session.get(IdempotencyRow, key)
    return StoredReply(row.request_hash, row.status_code, row.location, row.body) if row else None


def _episode_query(episode_id: str) -> Any:
    return select(DomainRecord).where(DomainRecord.kind == "episode", DomainRecord.business_id == episode_id)


#: The write path's statements, built once (a statement object is its compiled-cache key; building one costs
#: more than running it on SQLite). The patient insert skips a stored patient in the same statement.
_LOCK = select(DomainRecord.id, DomainRecord.business_id, DomainRecord.patient_id, DomainRecord.data,
               DomainRecord.version).where(DomainRecord.kind == "episode",
                                           DomainRecord.business_id == bindparam("episode_id")).with_for_update()
_ADD_PATIENT = {name: dialect.insert(table(PatientRow)).on_conflict_do_nothing(index_elements=["id"])
                .returning(table(PatientRow).c.id)  # a row only when inserted (psycopg's rowcount here is -1)
                for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}
_INSERT_EPISODE = insert(table(DomainRecord))
_UPDATE_EPISODE = update(table(DomainRecord)).where(table(DomainRecord).c.id == bindparam("pk"))
_INSERT_REPLY = insert(table(IdempotencyRow))


class SqlUnit:
    """One write transaction (``service.episodes.ports.EpisodeUnit``)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._row: tuple[Any, EpisodeRecord] | None = None  # (primary key, record) of the locked episode

    def lock(self, episode_id: str) -> EpisodeRecord | None:
        row = self.session.connection().execute(_LOCK, {"episode_id": episode_id}).first()
        self._row = (row.id, _episode(row)) if row else None
        return self._row[1] if self._row else None

    def reply(self, key: str) -> StoredReply | None:
        return _reply(self.session, key)

    def add_patient(self, patient_id: str, system: str, value: str, now: datetime) -> bool:
        conn = self.session.connection()  # Core statements: the ORM's unit of work costs more than the write itself
        added = conn.execute(_ADD_PATIENT[conn.dialect.name], {
            "id": patient_id, "identifier_system": system, "identifier_value": value, "created_at": now})
        return added.first() is not None

    def put_episode(self, episode_id: str, patient_id: str, data: dict[str, Any], now: datetime) -> EpisodeRecord:
        conn = self.session.connection()  # Core statements, as the rest of the unit (no ORM flush)
        if self._row is None:
            pk = conn.execute(_INSERT_EPISODE, {
                "kind": "episode", "business_id": episode_id, "patient_id": patient_id, "episode_id": episode_id,
                "data": data, "version": 1, "updated_at": now}).inserted_primary_key
            self._row = (pk[0] if pk else None, EpisodeRecord(episode_id, patient_id, data, 1))
        elif self._row[1].data != data:
            old = self._row[1]
            conn.execute(_UPDATE_EPISODE, {"pk": self._row[0], "data": data, "version": old.version + 1,
                                           "updated_at": now})
            self._row = (self._row[0], EpisodeRecord(old.episode_id, old.patient_id, data, old.version + 1))
        return self._row[1]

    def save_resources(self, batch: PreparedResources, now: datetime) -> list[Saved]:
        """``batch`` from ``EpisodeStore.prepare`` (any other ``PreparedResources`` is prepared here)."""
        return save_resources(self.session, batch if isinstance(batch, PreparedBatch) else batch.resources, now)

    def enqueue(self, patient_key: str, local_id: str, bundle: dict[str, Any], targets: Sequence[str],
                now: datetime) -> list[int]:
        return enqueue_ids(self.session, patient_key=patient_key, resource_type="Bundle", local_id=local_id,
                           operation="transaction", resource=bundle, targets=targets, now=now)

    def audit(self, records: Sequence[AuditRecord]) -> None:
        insert_rows(self.session.connection(), table(AuditRow), audit_rows(records))

    def keep_reply(self, key: str, reply: StoredReply, now: datetime) -> None:
        self.session.connection().execute(_INSERT_REPLY, {
            "key": key, "request_hash": reply.request_hash, "status_code": reply.status, "location": reply.location,
            "body": reply.body, "created_at": now})


class EpisodeStore:
    """``service.episodes.ports.EpisodeRepository``: ``Store.episodes``."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @contextmanager
    def unit(self) -> Iterator[SqlUnit]:
        try:
            with transaction(self._sessions) as session:
                yield SqlUnit(session)
        except IntegrityError as err:
            raise WriteCollision(type(err.orig).__name__) from err

    def prepare(self, resources: list[dict[str, Any]]) -> PreparedBatch:
        """Hashes, search index and JSON of the resources, computed before ``unit()`` takes the write lock."""
        return prepare(resources)

    def load(self, episode_id: str) -> EpisodeRecord | None:
        with self._sessions() as session:
            row = session.scalar(_episode_query(episode_id))
            return _episode(row) if row else None

    def reply(self, key: str) -> StoredReply | None:
        with self._sessions() as session:
            return _reply(session, key)

    def patient(self, patient_id: str) -> PatientRecord | None:
        with self._sessions() as session:
            row = session.get(PatientRow, patient_id)
            if row is None:
                return None
            episode_ids = list(session.scalars(select(DomainRecord.business_id).where(
                DomainRecord.kind == "episode", DomainRecord.patient_id == patient_id)))
            return PatientRecord(row.id, row.identifier_system, row.identifier_value, episode_ids)

    def audit(self, records: Sequence[AuditRecord]) -> None:
        record(self._sessions, records)
