"""The port of the episode use-cases: what they need from a store (``service/store/episodes.py`` implements it).

One ``unit()`` is one transaction: the episode record, its FHIR resources, the outbox rows, the audit rows
and the idempotency reply are all kept, or none. Two writers making the same row at once raise
``WriteCollision`` (the use-case tries once more).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from service.security.audit_event import AuditRecord


class WriteCollision(Exception):
    """Another transaction stored the same row (episode, patient, resource version) first: try again."""


@dataclass(frozen=True)
class EpisodeRecord:
    """The stored episode payload (the aggregate) and its version (the ETag)."""

    episode_id: str
    patient_id: str
    data: dict[str, Any]
    version: int


@dataclass(frozen=True)
class PatientRecord:
    """A patient by business identifier, with the ids of its episodes."""

    id: str
    system: str
    value: str
    episode_ids: list[str]


@dataclass(frozen=True)
class StoredReply:
    """The answer kept for an idempotency key."""

    request_hash: str
    status: int
    location: str | None
    body: dict[str, Any]


class SavedResource(Protocol):
    @property
    def resource_type(self) -> str: ...
    @property
    def resource_id(self) -> str: ...
    @property
    def version_id(self) -> int: ...
    @property
    def changed(self) -> bool: ...


class PreparedResources(Protocol):
    """An episode's FHIR resources made ready to store before the write lock is taken (``EpisodeRepository
    .prepare``: content hashes, search index rows, serialised bodies); opaque to the use-cases."""

    @property
    def resources(self) -> list[dict[str, Any]]: ...


class EpisodeUnit(Protocol):
    """One write transaction."""

    def lock(self, episode_id: str) -> EpisodeRecord | None:
        """The stored episode, locked against concurrent writers until the end of the unit."""
        ...

    def reply(self, key: str) -> StoredReply | None: ...

    def add_patient(self, patient_id: str, system: str, value: str, now: datetime) -> bool:
        """Register the patient unless it is stored; True when it was added."""
        ...

    def put_episode(self, episode_id: str, patient_id: str, data: dict[str, Any], now: datetime) -> EpisodeRecord:
        """Store the payload: version 1 when new, the next version when it changed, else as it was."""
        ...

    def save_resources(self, batch: PreparedResources, now: datetime) -> Sequence[SavedResource]:
        """A new version of each resource whose content changed (``batch`` from ``EpisodeRepository.prepare``)."""
        ...

    def enqueue(self, patient_key: str, local_id: str, bundle: dict[str, Any], targets: Sequence[str],
                now: datetime) -> list[int]:
        """One outbox row per target (one for every target when none is named); their ids."""
        ...

    def audit(self, records: Sequence[AuditRecord]) -> None: ...

    def keep_reply(self, key: str, reply: StoredReply, now: datetime) -> None: ...


class EpisodeRepository(Protocol):
    def unit(self) -> AbstractContextManager[EpisodeUnit]:
        """A write transaction: committed when the block ends, rolled back on any exception."""
        ...

    def prepare(self, resources: list[dict[str, Any]]) -> PreparedResources:
        """What can be computed of the resources before ``unit()`` (no database): call it outside the unit."""
        ...

    def load(self, episode_id: str) -> EpisodeRecord | None: ...

    def reply(self, key: str) -> StoredReply | None: ...

    def patient(self, patient_id: str) -> PatientRecord | None: ...

    def audit(self, records: Sequence[AuditRecord]) -> None:
        """Keep audit records in a transaction of their own (a refusal, after the write rolled back)."""
        ...
