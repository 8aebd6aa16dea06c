"""The write use-cases: create, replace, amend (add items, apply an EHR edit): payload -> mapping ->
validation -> one transaction of the repository (episode, FHIR resources, outbox rows, audit rows, reply).

The episode JSON is the aggregate: every write (a whole episode, or one session, goal, answer set or
score added to it) produces the new episode payload and goes through ``EpisodeWriter.write``. A
rejected write raises ``MappingError``/``ApiError`` (422) before anything is stored. An accepted one
stores the changed FHIR resources as new versions and, if anything changed, enqueues one transaction
Bundle per configured sync target (one row for every target when none is configured) in the same
transaction.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from mappings.bundle import episode_issues, transaction_bundle
from mappings.domain import Episode
from service.episodes.checks import mapped, not_found, patient_of, refused, with_issues
from service.episodes.model import Caller, Deps, WriteResult, request_hash, utcnow
from service.episodes.ports import (
    EpisodeRecord,
    EpisodeUnit,
    PreparedResources,
    SavedResource,
    StoredReply,
    WriteCollision,
)
from service.episodes.reads import load_episode
from service.errors import ApiError
from service.security import authz

Mode = Literal["create", "replace", "amend"]
Change = Callable[[dict[str, Any]], dict[str, Any]]


class StaleWrite(Exception):
    """The episode changed between reading it and writing the amended version: read again."""


class EpisodeWriter:
    def __init__(self, deps: Deps, clock: Callable[[], datetime] = utcnow) -> None:
        self.deps = deps
        self.clock = clock

    def write(self, payload: dict[str, Any], mode: Mode, caller: Caller, raw: Any = None) -> WriteResult:
        """Store an episode payload. ``raw`` is the request body the idempotency key is bound to."""
        episode, resources = mapped(self.deps, payload)
        digest = request_hash(raw if raw is not None else payload)
        bundle = transaction_bundle(resources)  # built before the write lock is taken, as are the hashes, index
        batch = self.deps.repo.prepare(resources)  # rows and JSON of the resources
        for attempt in (1, 2):
            try:
                with self.deps.repo.unit() as unit:
                    return self._store(unit, episode, payload, batch, bundle, mode, caller, digest)
            except authz.Denied as err:  # rolled back: the denial is audited in a transaction of its own
                raise refused(self.deps, caller, err, "create" if mode == "create" else "update") from err
            except WriteCollision:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def amend(self, episode_id: str, change: Change, caller: Caller, raw: Any) -> WriteResult:
        """Apply ``change`` to the stored episode payload and write the result (optimistic retry)."""
        for attempt in range(5):
            record = load_episode(self.deps, episode_id)
            try:  # decided from the stored episode, before a replay or the change sees its content
                authz.check_episode_write(caller.patient_limit, record.patient_id, record.patient_id,
                                          creating=False, episode_id=episode_id, not_found=not_found(episode_id))
            except authz.Denied as err:
                raise refused(self.deps, caller, err, "update") from err
            key = caller.idempotency_key
            if attempt == 0 and key and (replay := _replay(self.deps.repo.reply(key), request_hash(raw))):
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

    def _store(self, unit: EpisodeUnit, episode: Episode, payload: dict[str, Any], batch: PreparedResources,
               bundle: dict[str, Any], mode: Mode, caller: Caller, digest: str) -> WriteResult:
        now = self.clock()
        key = caller.idempotency_key
        record = unit.lock(episode.episode_id)
        patient_id = patient_of(batch.resources)  # the id the mapping gave the episode's Patient
        authz.check_episode_write(caller.patient_limit, record.patient_id if record else None, patient_id,
                                  creating=mode == "create", episode_id=episode.episode_id,
                                  not_found=not_found(episode.episode_id))  # before any replay
        if key and (replay := _replay(unit.reply(key), digest)):
            return replay
        _check_mode(record, payload, mode, caller)
        unit.add_patient(patient_id, episode.patient.system, episode.patient.value, now)
        record = unit.put_episode(episode.episode_id, patient_id, payload, now)
        saved = unit.save_resources(batch, now)
        changed = [s for s in saved if s.changed]
        outbox_ids: list[int] = []
        if changed and caller.enqueue:
            outbox_ids = unit.enqueue(patient_id, episode.episode_id, bundle, self.deps.targets, now)
        if changed:
            unit.audit([caller.audit("create" if s.version_id == 1 else "update", s.resource_type, s.resource_id,
                                     s.version_id, patient_id, now) for s in changed])
        result = _result(record, saved, outbox_ids, created=record.version == 1 and bool(changed) and mode == "create")
        result = with_issues(result, episode_issues(episode))  # before it is kept: a replay tells the same
        if key:
            unit.keep_reply(key, StoredReply(digest, result.status, result.location, result.body), now)
        return result


def _replay(stored: StoredReply | None, digest: str) -> WriteResult | None:
    if stored is None:
        return None
    if stored.request_hash != digest:
        raise ApiError(409, "this Idempotency-Key was already used with a different request body",
                       expression="Idempotency-Key")
    return WriteResult(stored.status, stored.body, stored.location,
                       headers={"Idempotent-Replayed": "true", "ETag": f'W/"{stored.body.get("version")}"'})


def _check_mode(record: EpisodeRecord | None, payload: dict[str, Any], mode: Mode, caller: Caller) -> None:
    if record is None:
        if mode != "create":
            raise ApiError(404, not_found(str(payload.get("episode_id"))))
        return
    if caller.base_version is not None and caller.base_version != record.version:
        raise StaleWrite
    if caller.if_match is not None and caller.if_match != record.version:
        raise ApiError(412, f"episode is at version {record.version}, not {caller.if_match}", expression="If-Match")
    if mode == "create" and record.data != payload:
        raise ApiError(409, f"episode {record.episode_id} exists with other content; PUT it to change it",
                       expression="episode_id")


def _result(record: EpisodeRecord, saved: Sequence[SavedResource], outbox_ids: list[int],
            created: bool) -> WriteResult:
    changed = any(s.changed for s in saved)
    body = {
        "episode_id": record.episode_id, "version": record.version, "patient_id": record.patient_id,
        "outcome": "created" if created else ("updated" if changed else "unchanged"),
        "outbox_id": outbox_ids[0] if outbox_ids else None, "outbox_ids": outbox_ids,
        "resources": [{"reference": f"{s.resource_type}/{s.resource_id}", "version": s.version_id,
                       "changed": s.changed} for s in saved],
    }
    location = f"/api/v1/episodes/{record.episode_id}"
    return WriteResult(201 if created else 200, body, location, headers={"ETag": f'W/"{record.version}"'})
