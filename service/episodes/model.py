"""What the episode use-cases are given (``Deps``), who writes (``Caller``) and what a write answers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from mappings.refs import MappingContext
from service.episodes.ports import EpisodeRepository
from service.security.audit_event import AuditRecord

Validate = Callable[[dict[str, Any], str | None], dict[str, Any]]


def utcnow() -> datetime:
    """Naive UTC, the form the store keeps."""
    return datetime.now(UTC).replace(tzinfo=None)


def request_hash(body: Any) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class Deps:
    """The episode use-cases' dependencies (``service.wiring.Context.episodes`` builds them)."""

    repo: EpisodeRepository
    questionnaires: Callable[[], dict[Any, dict[str, Any]]]  # the guide's pinned Questionnaires by kind
    validate: Validate  # the validator's OperationOutcome for a resource
    mapping: Callable[[], MappingContext]  # the deployment's Patient id key
    targets: tuple[str, ...] = ()  # the sync targets: one outbox row each


@dataclass
class WriteResult:
    status: int
    body: dict[str, Any]
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Caller:
    actor: str
    request_id: str
    idempotency_key: str | None = None  # already scoped per caller and path by the transport
    if_match: int | None = None
    patient_limit: str | None = None
    base_version: int | None = None
    enqueue: bool = True  # False for edits pulled from an EHR: they are already there
    client: str | None = None  # the token's client_id and issuer, for the AuditEvent's agents
    issuer: str | None = None

    def audit(self, action: str, resource_type: str, rid: str | None, version_id: int | None,
              patient_id: str | None, at: datetime, outcome: str = "0") -> AuditRecord:
        return AuditRecord(at=at, actor=self.actor, action=action, resource_type=resource_type,
                           resource_id=rid, version_id=version_id, patient_id=patient_id,
                           request_id=self.request_id, outcome=outcome, client=self.client, issuer=self.issuer)
