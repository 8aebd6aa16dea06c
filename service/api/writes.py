"""The write use-case: payload -> mapping -> validation -> one transaction (data, FHIR, outbox, audit).

The episode JSON is the aggregate: every write (a whole episode, or one session, goal, answer set or
score added to it) produces the new episode payload and goes through ``EpisodeWriter.write``. A
rejected write raises ``MappingError``/``ApiError`` (422) before anything is stored. An accepted one
stores the changed FHIR resources as new versions and, if anything changed, enqueues one transaction
Bundle per configured sync target (one row for every target when none is configured) in the same
database transaction.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mappings.bundle import episode_issues, episode_resources, patient_to_fhir, transaction_bundle
from mappings.domain import Episode, PatientRef
from mappings.errors import Issue, MappingError, operation_outcome
from mappings.payload import episode_from_json
from service import limits
from service.errors import ApiError
from service.fhir.validator import error_issues
from service.security import authz
from service.security.audit_event import DENIED, AuditRecord
from service.store.audit import audit_rows, record
from service.store.db import transaction, utcnow
from service.store.id_key import mapping_context
from service.store.models import AuditRow, DomainRecord, IdempotencyRow, PatientRow
from service.store.outbox import enqueue
from service.store.resources import save_resources
from service.wiring import Context

Mode = Literal["create", "replace", "amend"]


def request_hash(body: Any) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


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
    idempotency_key: str | None = None
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


class StaleWrite(Exception):
    """The episode changed between reading it and writing the amended version: read again."""


def mapped(ctx: Context, payload: dict[str, Any]) -> tuple[Episode, list[dict[str, Any]]]:
    """Map and validate; raise 422 (``MappingError``) with every issue found, first the payload's limits
    (an EHR edit pulled into the episode meets them too)."""
    try:
        limits.check_episode(payload)
    except limits.LimitError as err:
        raise MappingError([Issue("error", err.code, err.message, err.path)]) from err
    episode = episode_from_json(payload)
    questionnaires = ctx.package.questionnaires()
    missing = {r.questionnaire for r in episode.responses} - set(questionnaires)
    if missing:
        raise ApiError(503, f"questionnaire(s) {', '.join(sorted(missing))} not loaded from the profiles package")
    resources = episode_resources(episode, questionnaires, mapping_context(ctx.store, ctx.settings))
    issues: list[Issue] = []
    for i, resource in enumerate(resources):
        issues += error_issues(ctx.validate(resource, None), f"Bundle.entry[{i}].resource")
    if issues:
        raise MappingError(issues)
    return episode, resources


class EpisodeWriter:
    def __init__(self, ctx: Context, clock: Callable[[], datetime] = utcnow) -> None:
        self.ctx = ctx
        self.clock = clock

    def write(self, payload: dict[str, Any], mode: Mode, caller: Caller, raw: Any = None) -> WriteResult:
        """Store an episode payload. ``raw`` is the request body the idempotency key is bound to."""
        episode, resources = mapped(self.ctx, payload)
        digest = request_hash(raw if raw is not None else payload)
        bundle = transaction_bundle(resources)  # built before the write lock is taken
        for attempt in (1, 2):
            try:
                with transaction(self.ctx.store.sessions) as session:
                    return self._store(session, episode, payload, resources, bundle, mode, caller, digest)
            except authz.Denied as err:  # rolled back: the denial is audited in a transaction of its own
                raise refused(self.ctx, caller, err, "create" if mode == "create" else "update") from err
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def amend(self, episode_id: str, change: Callable[[dict[str, Any]], dict[str, Any]], caller: Caller,
              raw: Any) -> WriteResult:
        """Apply ``change`` to the stored episode payload and write the result (optimistic retry)."""
        for attempt in range(5):
            record = load_episode(self.ctx, episode_id)
            try:  # decided from the stored episode, before a replay or the change sees its content
                authz.check_episode_write(caller.patient_limit, record.patient_id, record.patient_id,
                                          creating=False, episode_id=episode_id, not_found=not_found(episode_id))
            except authz.Denied as err:
                raise refused(self.ctx, caller, err, "update") from err
            if attempt == 0 and caller.idempotency_key:
                with self.ctx.store.sessions() as session:
                    if replay := _replay(session, caller.idempotency_key, request_hash(raw)):
                        return replay
            if caller.if_match is not None and caller.if_match != record.version:
                raise ApiError(412, f"episode is at version {record.version}, not {caller.if_match}",
                               expression="If-Match")
            payload = change(copy.deepcopy(record.data))
            try:
                return self.write(payload, "amend", dataclasses.replace(caller, base_version=record.version), raw)
            except StaleWrite:
                continue
        raise ApiError(409, "the episode is being changed concurrently; retry")

    def _store(self, session: Session, episode: Episode, payload: dict[str, Any], resources: list[dict[str, Any]],
               bundle: dict[str, Any], mode: Mode, caller: Caller, digest: str) -> WriteResult:
        now = self.clock()
        key = caller.idempotency_key
        record = session.scalar(select(DomainRecord).where(
            DomainRecord.kind == "episode", DomainRecord.business_id == episode.episode_id).with_for_update())
        patient_id = patient_of(resources)  # the id the mapping gave the episode's Patient
        authz.check_episode_write(caller.patient_limit, record.patient_id if record else None, patient_id,
                                  creating=mode == "create", episode_id=episode.episode_id,
                                  not_found=not_found(episode.episode_id))  # before any replay
        if key and (replay := _replay(session, key, digest)):
            return replay
        _check_mode(record, payload, mode, caller)
        _patient(session, episode, patient_id, now)
        if record is None:
            record = DomainRecord(kind="episode", business_id=episode.episode_id, patient_id=patient_id,
                                  episode_id=episode.episode_id, data=payload, version=1, updated_at=now)
            session.add(record)
        elif record.data != payload:
            record.data, record.version, record.updated_at = payload, record.version + 1, now
        saved = save_resources(session, resources, now)
        changed = [s for s in saved if s.changed]
        outbox_ids: list[int] = []
        if changed and caller.enqueue:
            rows = enqueue(session, patient_key=patient_id, resource_type="Bundle", local_id=episode.episode_id,
                           operation="transaction", resource=bundle, targets=self.ctx.target_names, now=now)
            session.flush()
            outbox_ids = [row.id for row in rows]
        if changed:
            session.execute(insert(AuditRow), audit_rows([
                caller.audit("create" if s.version_id == 1 else "update", s.resource_type, s.resource_id,
                             s.version_id, patient_id, now) for s in changed]))
        result = _result(record, saved, outbox_ids, created=record.version == 1 and bool(changed) and mode == "create")
        result = with_issues(result, episode_issues(episode))  # before it is kept: a replay tells the same
        if key:
            session.add(IdempotencyRow(key=key, request_hash=digest, status_code=result.status,
                                       location=result.location, body=result.body, created_at=now))
        return result


def _replay(session: Session, key: str, digest: str) -> WriteResult | None:
    stored = session.get(IdempotencyRow, key)
    if stored is None:
        return None
    if stored.request_hash != digest:
        raise ApiError(409, "this Idempotency-Key was already used with a different request body",
                       expression="Idempotency-Key")
    return WriteResult(stored.status_code, stored.body, stored.location,
                       headers={"Idempotent-Replayed": "true", "ETag": f'W/"{stored.body.get("version")}"'})


def _check_mode(record: DomainRecord | None, payload: dict[str, Any], mode: Mode, caller: Caller) -> None:
    if record is None:
        if mode != "create":
            raise ApiError(404, not_found(str(payload.get("episode_id"))))
        return
    if caller.base_version is not None and caller.base_version != record.version:
        raise StaleWrite
    if caller.if_match is not None and caller.if_match != record.version:
        raise ApiError(412, f"episode is at version {record.version}, not {caller.if_match}", expression="If-Match")
    if mode == "create" and record.data != payload:
        raise ApiError(409, f"episode {record.business_id} exists with other content; PUT it to change it",
                       expression="episode_id")


def patient_of(resources: list[dict[str, Any]]) -> str:
    """The local id of the episode's Patient, as the mapping made it (the one place it is decided)."""
    return next(str(r["id"]) for r in resources if r.get("resourceType") == "Patient")


def _patient(session: Session, episode: Episode, pid: str, now: datetime) -> None:
    if session.get(PatientRow, pid) is None:
        session.add(PatientRow(id=pid, identifier_system=episode.patient.system,
                               identifier_value=episode.patient.value, created_at=now))
        session.flush()


def _result(record: DomainRecord, saved: list[Any], outbox_ids: list[int], created: bool) -> WriteResult:
    changed = any(s.changed for s in saved)
    body = {
        "episode_id": record.business_id, "version": record.version, "patient_id": record.patient_id,
        "outcome": "created" if created else ("updated" if changed else "unchanged"),
        "outbox_id": outbox_ids[0] if outbox_ids else None, "outbox_ids": outbox_ids,
        "resources": [{"reference": f"{s.resource_type}/{s.resource_id}", "version": s.version_id,
                       "changed": s.changed} for s in saved],
    }
    location = f"/api/v1/episodes/{record.business_id}"
    return WriteResult(201 if created else 200, body, location, headers={"ETag": f'W/"{record.version}"'})


def not_found(episode_id: str) -> str:
    """The one answer for an episode that is not stored or not the caller's to see."""
    return f"episode {episode_id!r} is not known"


def refused(ctx: Context, caller: Caller, err: authz.Denied, action: str) -> ApiError:
    """Audit a refused write (outcome 4) and give the answer: 404 like a missing episode, 403 or 409."""
    record(ctx.store.sessions, [caller.audit(action, err.resource_type, err.resource_id, None, err.patient_id,
                                             utcnow(), DENIED)])
    return ApiError(err.status, err.reason, expression="patient" if err.status == 409 else None)


def with_issues(result: WriteResult, issues: list[Issue]) -> WriteResult:
    """An accepted write tells its caller the mapping's warnings (e.g. low back pain shorter than 3 months)."""
    if issues:
        result.body["issues"] = operation_outcome(issues)
    return result


def load_episode(ctx: Context, episode_id: str) -> DomainRecord:
    with ctx.store.sessions() as session:
        record = session.scalar(select(DomainRecord).where(
            DomainRecord.kind == "episode", DomainRecord.business_id == episode_id))
    if record is None:
        raise ApiError(404, not_found(episode_id))
    return record


def register_patient(ctx: Context, system: str, value: str, caller: Caller) -> WriteResult:
    """The patient by business identifier only (mapped, validated, stored, audited; no outbox entry:
    every episode Bundle carries the Patient as a conditional create)."""
    resource = patient_to_fhir(Episode("-", PatientRef(system, value), "2000-01-01"),
                               mapping_context(ctx.store, ctx.settings))
    issues = error_issues(ctx.validate(resource, None), "Patient")
    if issues:
        raise MappingError(issues)
    try:
        authz.check_patient_create(caller.patient_limit, resource["id"])
    except authz.Denied as err:
        raise refused(ctx, caller, err, "create") from err
    now = utcnow()
    with transaction(ctx.store.sessions) as session:
        created = session.get(PatientRow, resource["id"]) is None
        if created:
            session.add(PatientRow(id=resource["id"], identifier_system=system, identifier_value=value,
                                   created_at=now))
            saved = save_resources(session, [resource], now)[0]
            session.execute(insert(AuditRow), audit_rows([caller.audit(
                "create", "Patient", resource["id"], saved.version_id, resource["id"], now)]))
    body = {"id": resource["id"], "system": system, "value": value}
    return WriteResult(201 if created else 200, body, f"/api/v1/patients/{resource['id']}")
