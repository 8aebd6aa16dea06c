"""``EpisodeWriter`` under races, on the real store: a write that collides with a concurrent insert of the
same episode is tried once more (and only once), an amend that meets a newer version reads it again and keeps
both changes (five tries, then 409), and an amend's Idempotency-Key, If-Match and patient checks come before
its change is applied.

Written against the survivors of the mutation run of writes.py (docs/mutation/episodes.md).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from service.episodes import items
from service.episodes.model import Caller
from service.episodes.ports import (
    EpisodeRecord,
    EpisodeRepository,
    PatientRecord,
    PreparedResources,
    StoredReply,
    WriteCollision,
)
from service.episodes.writes import EpisodeWriter
from service.errors import ApiError
from service.security.audit_event import AuditRecord
from service.store.episodes import SqlUnit
from service.store.models import AuditRow, DomainRecord, OutboxRow
from service.wiring import Context

EPISODE = "EP-2026-0001"


@pytest.fixture
def ctx(app: Flask) -> Context:
    context: Context = app.extensions["etmi"]
    return context


def caller(**fields: Any) -> Caller:
    return Caller(actor="tester", request_id="req-1", **fields)


def count(ctx: Context, model: Any) -> int:
    with ctx.store.sessions() as session:
        return len(list(session.scalars(select(model))))


class LockMissesTheRow:
    """The store's repository whose first ``hide`` units do not see the stored episode when they lock it: what
    two writers inserting one new episode at once meet on PostgreSQL (the later insert breaks the unique
    business id and the store raises ``WriteCollision``). On SQLite writers queue, so this is the fast way in."""

    def __init__(self, repo: EpisodeRepository, hide: int) -> None:
        self.repo, self.hide, self.units = repo, hide, 0

    @contextmanager
    def unit(self) -> Iterator[SqlUnit]:
        self.units += 1
        with self.repo.unit() as unit:
            assert isinstance(unit, SqlUnit)
            if self.units <= self.hide:
                unit.lock = lambda episode_id: None  # type: ignore[method-assign]
            yield unit

    def prepare(self, resources: list[dict[str, Any]]) -> PreparedResources:
        return self.repo.prepare(resources)

    def load(self, episode_id: str) -> EpisodeRecord | None:
        return self.repo.load(episode_id)

    def reply(self, key: str) -> StoredReply | None:
        return self.repo.reply(key)

    def patient(self, patient_id: str) -> PatientRecord | None:
        return self.repo.patient(patient_id)

    def audit(self, records: Sequence[AuditRecord]) -> None:
        self.repo.audit(records)


def racing(ctx: Context, hide: int) -> tuple[EpisodeWriter, LockMissesTheRow]:
    repo = LockMissesTheRow(ctx.store.episodes, hide)
    return EpisodeWriter(dataclasses.replace(ctx.episodes, repo=repo)), repo


def test_a_collision_is_retried_once_and_the_retry_sees_the_other_writers_episode(ctx: Context,
                                                                                  episode: dict[str, Any]) -> None:
    EpisodeWriter(ctx.episodes).write(episode, "create", caller())
    writer, repo = racing(ctx, hide=1)
    result = writer.write(copy.deepcopy(episode), "create", caller())
    assert repo.units == 2 and (result.status, result.body["outcome"]) == (200, "unchanged")
    assert count(ctx, DomainRecord) == 1 and count(ctx, OutboxRow) == 1
    writer, repo = racing(ctx, hide=1)  # the other writer stored other content: the retry says so
    with pytest.raises(ApiError) as err:
        writer.write(dict(episode, status="active"), "create", caller())
    assert repo.units == 2 and err.value.status == 409


def test_a_second_collision_is_not_retried_again(ctx: Context, episode: dict[str, Any]) -> None:
    EpisodeWriter(ctx.episodes).write(episode, "create", caller())
    writer, repo = racing(ctx, hide=5)
    with pytest.raises(WriteCollision):
        writer.write(copy.deepcopy(episode), "create", caller())
    assert repo.units == 2 and count(ctx, DomainRecord) == 1 and count(ctx, OutboxRow) == 1


def session_of(episode: dict[str, Any]) -> dict[str, Any]:
    session: dict[str, Any] = episode["sessions"][0]
    return session


def stored(ctx: Context, episode: dict[str, Any]) -> dict[str, Any]:
    base = {k: v for k, v in episode.items() if k != "sessions"}
    EpisodeWriter(ctx.episodes).write(base, "create", caller())
    return base


def test_an_amend_that_meets_a_newer_version_reads_again_and_keeps_both_changes(ctx: Context,
                                                                                episode: dict[str, Any]) -> None:
    base = stored(ctx, episode)
    calls: list[int] = []
    add = items.add("sessions", "number", session_of(episode))

    def change(payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:  # another writer changes the goal between our read and our write
            other = copy.deepcopy(base)
            other["goals"][0]["description"] = "Brisk walking 120 minutes per week"
            EpisodeWriter(ctx.episodes).write(other, "replace", caller())
        return add(payload)

    result = EpisodeWriter(ctx.episodes).amend(EPISODE, change, caller(), session_of(episode))
    assert len(calls) == 2 and result.body["version"] == 3
    data = ctx.store.episodes.load(EPISODE).data  # type: ignore[union-attr]
    assert data["sessions"] == [session_of(episode)]
    assert data["goals"][0]["description"] == "Brisk walking 120 minutes per week"


def test_an_amend_gives_up_after_five_newer_versions_with_409(ctx: Context, episode: dict[str, Any]) -> None:
    base = stored(ctx, episode)
    calls: list[int] = []

    def change(payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        other = copy.deepcopy(base)
        other["goals"][0]["description"] = f"Brisk walking, version {len(calls)}"
        EpisodeWriter(ctx.episodes).write(other, "replace", caller())
        return items.add("sessions", "number", session_of(episode))(payload)

    with pytest.raises(ApiError) as err:
        EpisodeWriter(ctx.episodes).amend(EPISODE, change, caller(), {})
    assert (err.value.status, str(err.value)) == (409, "the episode is being changed concurrently; retry")
    assert len(calls) == 5 and "sessions" not in ctx.store.episodes.load(EPISODE).data  # type: ignore[union-attr]


def test_an_amends_key_replays_before_the_change_and_if_match(ctx: Context, episode: dict[str, Any]) -> None:
    stored(ctx, episode)
    calls: list[int] = []
    add = items.add("sessions", "number", session_of(episode))

    def change(payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return add(payload)

    writer, raw = EpisodeWriter(ctx.episodes), session_of(episode)
    first = writer.amend(EPISODE, change, caller(idempotency_key="a1", if_match=1), raw)
    again = writer.amend(EPISODE, change, caller(idempotency_key="a1", if_match=1), raw)  # now at version 2
    assert len(calls) == 1 and (again.status, again.body) == (first.status, first.body)
    assert again.headers == {"Idempotent-Replayed": "true", "ETag": 'W/"2"'}
    with pytest.raises(ApiError) as err:
        writer.amend(EPISODE, change, caller(idempotency_key="a1"), dict(raw, number=9))
    assert (err.value.status, err.value.issues[0].expression) == (409, "Idempotency-Key") and len(calls) == 1


def test_an_amend_checks_if_match_and_the_patient_before_the_change(ctx: Context, episode: dict[str, Any]) -> None:
    stored(ctx, episode)
    pid = ctx.store.episodes.load(EPISODE).patient_id  # type: ignore[union-attr]

    def change(payload: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the change must not run")

    writer = EpisodeWriter(ctx.episodes)
    with pytest.raises(ApiError) as err:
        writer.amend(EPISODE, change, caller(if_match=2), {})
    [issue] = err.value.issues
    assert (err.value.status, issue.diagnostics, issue.expression) == (412, "episode is at version 1, not 2",
                                                                       "If-Match")
    with pytest.raises(ApiError) as err:
        writer.amend(EPISODE, change, caller(patient_limit="someone-else"), {})
    assert (err.value.status, str(err.value)) == (404, f"episode {EPISODE!r} is not known")
    with ctx.store.sessions() as session:
        denied = [(r.action, r.resource_type, r.resource_id, r.patient_id) for r in session.scalars(
            select(AuditRow).where(AuditRow.outcome == "4"))]
    assert denied == [("update", "CarePlan", EPISODE, pid)]
    own = writer.amend(EPISODE, items.add("sessions", "number", session_of(episode)), caller(patient_limit=pid), {})
    assert own.body["version"] == 2
