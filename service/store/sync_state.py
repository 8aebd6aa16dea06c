"""The sync workers' state in the database: pull cursors and the conflict log.

Implements ``service.sync.ports.SyncStatePort``. ``apply_remote`` (an EHR version adopted in a conflict or by
a clinician's resolve) maps it and hands it to the ``RemoteEditPort`` given at construction
(``service.compose``: the episode use-case); without one (``Store.sync_state``) it is logged as not applied.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.store.db import transaction, utcnow
from service.store.models import SyncConflictRow, SyncCursorRow
from service.store.outbox import naive_utc
from service.sync.ports import Conflict, RemoteEditPort
from service.sync.pull import hand_over, not_applied


class SyncState:
    def __init__(self, factory: sessionmaker[Session], edits: RemoteEditPort | None = None) -> None:
        self._factory = factory
        self._edits = edits

    def get_cursor(self, key: str) -> str | None:
        with self._factory() as session:
            row = session.get(SyncCursorRow, key)
            return row.value if row else None

    def set_cursor(self, key: str, value: str) -> None:
        with transaction(self._factory) as session:
            row = session.get(SyncCursorRow, key)
            if row is None:
                session.add(SyncCursorRow(key=key, value=value, updated_at=utcnow()))
            else:
                row.value, row.updated_at = value, utcnow()

    def record_conflict(self, conflict: Conflict) -> None:
        with transaction(self._factory) as session:
            session.add(SyncConflictRow(
                target=conflict.target, resource_type=conflict.resource_type, local_id=conflict.local_id,
                remote_id=conflict.remote_id, policy=conflict.policy, resolution=conflict.resolution,
                status=conflict.status, at=naive_utc(conflict.at), local=conflict.local, remote=conflict.remote,
                detail=conflict.detail))

    def list_conflicts(self, status: str | None = None) -> list[Conflict]:
        with self._factory() as session:
            query = select(SyncConflictRow).order_by(SyncConflictRow.id)
            if status:
                query = query.where(SyncConflictRow.status == status)
            return [Conflict(target=r.target, resource_type=r.resource_type, local_id=r.local_id,
                             remote_id=r.remote_id, policy=r.policy, resolution=r.resolution,
                             status="held" if r.status == "held" else "resolved", at=r.at, local=r.local,
                             remote=r.remote, detail=r.detail) for r in session.scalars(query)]

    def apply_remote(self, target: str, local_id: str | None, resource: dict[str, Any]) -> bool:
        """Store the EHR's version of a Goal or CarePlan as the new local state; False if not applied."""
        if self._edits is None:
            not_applied(resource, "no episode use-case given to this sync state")
            return False
        return hand_over(self._edits, target, resource)
