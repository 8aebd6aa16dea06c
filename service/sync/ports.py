"""The ports of the sync engine: what it needs from the store, the EHR, the clock and the auth.

``service/sync`` talks only to these Protocols. ``service/store`` implements ``OutboxPort``, ``IdMapPort`` and
``SyncStatePort``; ``service/adapters`` implements ``FhirServerPort`` and ``TokenProvider``;
``service/episodes/remote.py`` implements ``RemoteEditPort``; ``service/compose.py`` wires them, at
construction. Errors crossing ``FhirServerPort`` are the ``FhirError`` classes below, so the sync code
never sees an HTTP library.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Json = dict[str, Any]


class OutboxEntryLike(Protocol):
    """A claimed outbox entry (``service.store.outbox.OutboxEntry``). ``resource`` is the FHIR JSON
    to send: a transaction Bundle (``operation == "transaction"``) or one resource."""

    @property
    def id(self) -> int: ...
    @property
    def patient_key(self) -> str: ...
    @property
    def target(self) -> str | None:
        """The EHR target's name; ``None``: every configured target."""
        ...
    @property
    def resource_type(self) -> str: ...
    @property
    def local_id(self) -> str: ...
    @property
    def resource(self) -> Json: ...
    @property
    def operation(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True)
class Conflict:
    """A version conflict met while writing, with the policy applied and what it decided."""

    target: str
    resource_type: str
    local_id: str
    remote_id: str | None
    policy: str
    resolution: str
    status: Literal["resolved", "held"]
    at: datetime
    local: Json | None = None
    remote: Json | None = None
    detail: str = ""


@dataclass(frozen=True)
class FhirResponse:
    """A successful answer from a FHIR server."""

    status: int
    body: Json | None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def location(self) -> str | None:
        return self.headers.get("Location") or self.headers.get("Content-Location")

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")


class FhirError(Exception):
    """A failed FHIR interaction. ``outcome`` is the server's OperationOutcome when it sent one."""

    def __init__(self, message: str, status: int | None = None, outcome: Json | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome


class RetryableError(FhirError):
    """Worth retrying later: 429/503 (``retry_after`` seconds when the server said), other 5xx,
    timeouts and connection errors."""

    def __init__(
        self, message: str, status: int | None = None, outcome: Json | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status, outcome)
        self.retry_after = retry_after


class ConflictError(FhirError):
    """409 or 412: a version conflict (or a conditional write matching several resources)."""


class NotFoundError(FhirError):
    """404 or 410: the resource is not there (never created, or deleted)."""


class RejectedError(FhirError):
    """Any other 4xx: the request itself is wrong for this target; retrying cannot help."""


class AuthError(FhirError):
    """401/403 after a fresh token: configuration, not data, is wrong."""


class FhirServerPort(Protocol):
    """One EHR FHIR endpoint. Ids, versionIds and paging links are opaque strings."""

    base_url: str

    def capabilities(self) -> Json: ...

    def smart_configuration(self) -> Json | None: ...

    def read(self, resource_type: str, resource_id: str) -> FhirResponse: ...

    def search(self, resource_type: str, params: Mapping[str, str]) -> Iterator[Json]:
        """Every matching resource, following ``next`` links verbatim (``Bundle.total`` unused)."""
        ...

    def create(self, resource: Json, if_none_exist: str | None = None) -> FhirResponse: ...

    def update(self, resource: Json, if_match: str | None = None, condition: str | None = None) -> FhirResponse:
        """PUT ``Type/id`` (or ``Type?condition`` when given); ``if_match`` is an ETag verbatim."""
        ...

    def delete(self, resource_type: str, resource_id: str) -> FhirResponse: ...

    def transaction(self, bundle: Json) -> FhirResponse:
        """POST a ``transaction`` or ``batch`` Bundle to the base."""
        ...


class TokenProvider(Protocol):
    """The ``Authorization`` header value for a target (``None``: no auth)."""

    def authorization(self) -> str | None: ...

    def invalidate(self) -> None:
        """Forget a cached token (the server said 401): the next call fetches a new one."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC now."""
        ...

    def sleep(self, seconds: float) -> None: ...


class OutboxPort(Protocol):
    """The transactional outbox (``service.store.outbox.OutboxRepository``): FIFO claims per (patient,
    target) under a lease (a ``None`` target orders with every target); every ``mark_*`` returns False
    when the lease was lost."""

    def claim(self, batch_size: int, worker_id: str, lease_seconds: float) -> Sequence[OutboxEntryLike]: ...

    def mark_sent(self, entry: Any, remote_ids: Mapping[str, str], target: str | None = None) -> bool: ...

    def mark_failed(self, entry: Any, error: str, retry_at: datetime) -> bool: ...

    def dead_letter(self, entry: Any, outcome: Mapping[str, Any]) -> bool: ...

    def renew(self, entries: Sequence[Any], lease_seconds: float) -> bool: ...

    def replay(self, ids: Iterable[int]) -> int: ...

    def counts(self) -> dict[str, int]: ...


class IdMapPort(Protocol):
    """Local id → (remote id, remote versionId) per target (``service.store.outbox.IdMap``)."""

    def get(self, target: str, resource_type: str, local_id: str) -> tuple[str, str | None] | None: ...

    def put(self, target: str, resource_type: str, local_id: str, remote_id: str,
            remote_version: str | None = None) -> None: ...

    def local_id(self, target: str, resource_type: str, remote_id: str) -> str | None: ...


class RemoteEditPort(Protocol):
    """Where a pulled EHR edit goes, mapped once by ``service/sync/pull.py`` (the episode use-case)."""

    def apply(self, target: str, resource_type: str, mapped: Any, resource: Json) -> bool:
        """Store the edit as the new local state: ``mapped`` is what ``mappings`` made of ``resource``
        (an ``ActivityGoal`` for a Goal, a ``CarePlanState`` for a CarePlan). False when not applied
        (not known here, invalid, refused, or no store to apply it to), saying why in a log line."""
        ...


class SyncStatePort(Protocol):
    """Pull cursors, the conflict log, and the EHR version adopted outside a pull (a conflict the EHR
    wins, a clinician's ``sync resolve --keep ehr``)."""

    def get_cursor(self, key: str) -> str | None: ...

    def set_cursor(self, key: str, value: str) -> None: ...

    def record_conflict(self, conflict: Conflict) -> None: ...

    def list_conflicts(self, status: str | None = None) -> list[Conflict]: ...

    def apply_remote(self, target: str, local_id: str | None, resource: Json) -> bool:
        """Store the EHR's version of a Goal or CarePlan as the new local state (``pull.hand_over``: mapped,
        then given to the ``RemoteEditPort``); False if not applied."""
        ...
