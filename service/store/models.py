"""SQLAlchemy 2 tables of the store: domain records, FHIR resources, id map, outbox, audit.

Timestamps are naive UTC ``datetime`` values (the same on SQLite and PostgreSQL). JSON columns hold
the exact dicts the service validated and sent; ``resource_hash`` is the SHA-256 of their canonical
orjson form.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class PatientRow(Base):
    """A patient known only by its business identifier; ``id`` is the local FHIR Patient id."""

    __tablename__ = "patient"
    __table_args__ = (
        UniqueConstraint("identifier_system", "identifier_value", name="uq_patient_identifier"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    identifier_system: Mapped[str] = mapped_column(String(255))
    identifier_value: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class DomainRecord(Base):
    """One domain object (episode, session, goal, answers, score) as JSON, keyed by business id."""

    __tablename__ = "domain_record"
    __table_args__ = (UniqueConstraint("kind", "business_id", name="uq_domain_record_business_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    business_id: Mapped[str] = mapped_column(String(255))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    episode_id: Mapped[str | None] = mapped_column(String(255), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class FhirResourceRow(Base):
    """One version of a FHIR resource as sent. ``current`` marks the latest version."""

    __tablename__ = "fhir_resource"
    __table_args__ = (
        UniqueConstraint("resource_type", "resource_id", "version_id", name="uq_fhir_resource_version"),
        Index("ix_fhir_resource_current", "resource_type", "current", "last_updated"),
        Index("ix_fhir_resource_patient", "patient_id", "resource_type"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    patient_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(40))
    date_low: Mapped[str | None] = mapped_column(String(32))
    date_high: Mapped[str | None] = mapped_column(String(32))
    last_updated: Mapped[datetime] = mapped_column(DateTime)
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    resource_hash: Mapped[str] = mapped_column(String(64))


class SearchToken(Base):
    """Token index of a current resource version: ``name`` is ``code`` or ``identifier``."""

    __tablename__ = "search_token"
    __table_args__ = (
        Index("ix_search_token_lookup", "resource_type", "name", "code"),
        Index("ix_search_token_resource", "resource_type", "resource_id"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(40))
    system: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))


class IdMapRow(Base):
    """Local resource id to the id the resource has on one EHR target."""

    __tablename__ = "id_map"
    __table_args__ = (UniqueConstraint("target", "resource_type", "local_id", name="uq_id_map_local"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    local_id: Mapped[str] = mapped_column(String(64))
    remote_id: Mapped[str] = mapped_column(String(255))
    remote_version: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class OutboxRow(Base):
    """A write waiting to reach the EHR; inserted in the transaction that stored the data.

    ``target`` names the EHR target the row is for; ``NULL`` means every target configured when it is
    sent (rows written while no target was configured, and rows from before migration 0003)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_patient_target", "patient_key", "target", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_key: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    local_id: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(20))
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    remote_ids: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class AuditRow(Base):
    """One audited interaction (a read, search, write or denial): never a body, a name or a token.

    ``event`` is the FHIR R4 AuditEvent recorded for it (``service.security.audit_event``; NULL for rows
    from before migration 0004a, which are rendered from the columns); ``outcome`` is its outcome code
    (0 success, 4 denied) and ``patient_id`` its patient entity."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_patient", "patient_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(40))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(255))
    version_id: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(2), default="0", server_default="0")
    patient_id: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class IdempotencyRow(Base):
    """The stored answer to a write, replayed when the same key (or business id) comes again."""

    __tablename__ = "idempotency"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    location: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class SyncCursorRow(Base):
    """A pull cursor of the sync workers (e.g. the last ``_lastUpdated`` seen per target and type)."""

    __tablename__ = "sync_cursor"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class SyncConflictRow(Base):
    """A version conflict met by the sync workers, the policy applied and what it decided."""

    __tablename__ = "sync_conflict"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    local_id: Mapped[str] = mapped_column(String(64))
    remote_id: Mapped[str | None] = mapped_column(String(255))
    policy: Mapped[str] = mapped_column(String(40))
    resolution: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    local: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    remote: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail: Mapped[str] = mapped_column(Text, default="")


class IdKeyRow(Base):
    """The secret key of Patient ids when ``ETMI_ID_KEY`` is not set: made once, kept by the database
    (``service/store/id_key.py``); one row, id 1."""

    __tablename__ = "id_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class CdsJtiRow(Base):
    """A CDS Client JWT already accepted (``iss``, ``jti``) until its ``exp``: a replay on any process is
    refused (``service/store/cds_jti.py``); expired rows are purged."""

    __tablename__ = "cds_jti"

    issuer: Mapped[str] = mapped_column(String(255), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
