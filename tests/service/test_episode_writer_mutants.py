"""``EpisodeWriter`` (service/episodes/writes.py) on the real store: what one accepted write keeps in its one
transaction (episode, Patient, FHIR resources, one outbox row per target, audit rows, the idempotency reply),
the answer it gives, the replay of an Idempotency-Key and the refusals (403/404/409/412 with the payload
path or header they concern, the denial audited with its action).

Written against the survivors of the mutation run of writes.py (docs/mutation/episodes.md); the races
(collision retry, stale amend) are in test_episode_writer_races.py.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from mappings.bundle import transaction_bundle
from service.episodes.checks import mapped
from service.episodes.model import Caller, request_hash
from service.episodes.writes import EpisodeWriter
from service.errors import ApiError
from service.store.models import AuditRow, DomainRecord, FhirResourceRow, IdempotencyRow, OutboxRow, PatientRow
from service.wiring import Context

AT = datetime(2026, 2, 3, 4, 5, 6)
EPISODE = "EP-2026-0001"


@pytest.fixture
def ctx(app: Flask) -> Context:
    context: Context = app.extensions["etmi"]
    return context


def writer(ctx: Context, targets: tuple[str, ...] = ()) -> EpisodeWriter:
    return EpisodeWriter(dataclasses.replace(ctx.episodes, targets=targets), clock=lambda: AT)


def caller(**fields: Any) -> Caller:
    return Caller(actor="tester", request_id="req-1", **fields)


def rows(ctx: Context, model: Any) -> list[Any]:
    with ctx.store.sessions() as session:
        return list(session.scalars(select(model)))


def audit(ctx: Context) -> list[tuple[Any, ...]]:
    return [(r.action, r.resource_type, r.resource_id, r.version_id, r.patient_id, r.at, r.actor, r.request_id,
             r.outcome) for r in rows(ctx, AuditRow)]


def refusal(err: pytest.ExceptionInfo[ApiError]) -> tuple[int, str, str]:
    [issue] = err.value.issues
    return err.value.status, issue.diagnostics, issue.expression


def test_a_create_keeps_everything_in_one_unit_and_answers_201(ctx: Context, episode: dict[str, Any]) -> None:
    result = writer(ctx, ("ehr-a", "ehr-b")).write(episode, "create", caller(idempotency_key="k1"), episode)
    resources = mapped(ctx.episodes, episode)[1]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    outbox = rows(ctx, OutboxRow)
    assert [(o.target, o.patient_key, o.local_id, o.resource_type, o.operation, o.created_at) for o in outbox] == [
        (target, pid, EPISODE, "Bundle", "transaction", AT) for target in ("ehr-a", "ehr-b")]
    assert all(o.resource == transaction_bundle(resources) for o in outbox)
    refs = [{"reference": f"{r['resourceType']}/{r['id']}", "version": 1, "changed": True} for r in resources]
    ids = [o.id for o in outbox]
    assert (result.status, result.location, result.headers) == (201, f"/api/v1/episodes/{EPISODE}", {"ETag": 'W/"1"'})
    assert result.body == {"episode_id": EPISODE, "version": 1, "patient_id": pid, "outcome": "created",
                           "outbox_id": ids[0], "outbox_ids": ids, "resources": refs}
    [record] = rows(ctx, DomainRecord)
    assert (record.business_id, record.patient_id, record.data, record.version, record.updated_at) == (
        EPISODE, pid, episode, 1, AT)
    [patient] = rows(ctx, PatientRow)
    assert (patient.id, patient.identifier_system, patient.identifier_value, patient.created_at) == (
        pid, episode["patient"]["system"], episode["patient"]["value"], AT)
    assert sorted((r.resource_type, r.resource_id, r.version_id, r.last_updated) for r in rows(ctx, FhirResourceRow)) \
        == sorted((r["resourceType"], r["id"], 1, AT) for r in resources)
    assert audit(ctx) == [("create", r["resourceType"], r["id"], 1, pid, AT, "tester", "req-1", "0")
                          for r in resources]
    [kept] = rows(ctx, IdempotencyRow)
    assert (kept.key, kept.request_hash, kept.status_code, kept.location, kept.body, kept.created_at) == (
        "k1", request_hash(episode), 201, result.location, result.body, AT)


def test_the_same_episode_again_is_200_unchanged_with_no_outbox_row_and_no_audit(ctx: Context,
                                                                                 episode: dict[str, Any]) -> None:
    first = writer(ctx).write(episode, "create", caller())
    again = writer(ctx).write(copy.deepcopy(episode), "create", caller())
    assert (again.status, again.location, again.headers) == (200, first.location, {"ETag": 'W/"1"'})
    assert again.body == dict(first.body, outcome="unchanged", outbox_id=None, outbox_ids=[],
                              resources=[dict(r, changed=False) for r in first.body["resources"]])
    assert len(rows(ctx, OutboxRow)) == 1 and len(audit(ctx)) == len(first.body["resources"])
    assert rows(ctx, IdempotencyRow) == []  # no key, nothing kept


def test_a_replace_is_200_updated_audits_update_of_what_changed_and_enqueues_it(ctx: Context,
                                                                               episode: dict[str, Any]) -> None:
    created = writer(ctx).write(episode, "create", caller())
    changed = copy.deepcopy(episode)
    changed["goals"][0]["description"] = "Brisk walking 120 minutes per week"
    result = writer(ctx).write(changed, "replace", caller(if_match=1))
    pid = created.body["patient_id"]
    assert (result.status, result.headers, result.body["outcome"], result.body["version"]) == (
        200, {"ETag": 'W/"2"'}, "updated", 2)
    [goal] = [r for r in result.body["resources"] if r["changed"]]
    assert goal["reference"].startswith("Goal/") and goal["version"] == 2
    new_rows = audit(ctx)[len(created.body["resources"]):]
    assert new_rows == [("update", "Goal", goal["reference"][5:], 2, pid, AT, "tester", "req-1", "0")]
    outbox = rows(ctx, OutboxRow)
    assert [o.id for o in outbox][1:] == result.body["outbox_ids"] and len(outbox) == 2
    assert rows(ctx, DomainRecord)[0].data == changed


def test_an_ehr_edit_is_stored_and_audited_but_not_enqueued(ctx: Context, episode: dict[str, Any]) -> None:
    writer(ctx).write(episode, "create", caller())
    changed = copy.deepcopy(episode)
    changed["goals"][0]["description"] = "Brisk walking 120 minutes per week"
    result = writer(ctx).write(changed, "replace", caller(enqueue=False))
    assert result.body["outcome"] == "updated" and result.body["outbox_ids"] == [] and result.body["outbox_id"] is None
    assert len(rows(ctx, OutboxRow)) == 1
    [goal] = [r["reference"] for r in result.body["resources"] if r["changed"]]
    assert audit(ctx)[-1][:4] == ("update", "Goal", goal[5:], 2)


def test_a_key_replays_the_first_answer_and_is_bound_to_the_request_body(ctx: Context,
                                                                        episode: dict[str, Any]) -> None:
    first = writer(ctx).write(episode, "create", caller(idempotency_key="k1"), {"body": "a"})
    again = writer(ctx).write(episode, "create", caller(idempotency_key="k1"), {"body": "a"})
    assert (again.status, again.body, again.location) == (201, first.body, first.location)
    assert again.headers == {"Idempotent-Replayed": "true", "ETag": 'W/"1"'}
    with pytest.raises(ApiError) as err:  # the same episode, another body: the key is bound to the body sent
        writer(ctx).write(episode, "create", caller(idempotency_key="k1"), {"body": "b"})
    assert refusal(err) == (409, "this Idempotency-Key was already used with a different request body",
                            "Idempotency-Key")
    without_raw = writer(ctx).write(episode, "create", caller(idempotency_key="k2"))  # bound to the payload
    assert without_raw.status == 200 and [r.request_hash for r in rows(ctx, IdempotencyRow)] == [
        request_hash({"body": "a"}), request_hash(episode)]
    assert len(rows(ctx, OutboxRow)) == 1


def test_a_stale_if_match_on_a_replace_is_412_naming_both_versions(ctx: Context, episode: dict[str, Any]) -> None:
    writer(ctx).write(episode, "create", caller())
    with pytest.raises(ApiError) as err:
        writer(ctx).write(episode, "replace", caller(if_match=2))
    assert refusal(err) == (412, "episode is at version 1, not 2", "If-Match")


def test_a_replace_of_an_unknown_episode_is_404_naming_it(ctx: Context, episode: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as err:
        writer(ctx).write(episode, "replace", caller())
    assert refusal(err) == (404, f"episode {EPISODE!r} is not known", "")
    assert rows(ctx, DomainRecord) == [] and rows(ctx, PatientRow) == []


def test_a_create_over_other_content_is_409_at_episode_id(ctx: Context, episode: dict[str, Any]) -> None:
    writer(ctx).write(episode, "create", caller())
    with pytest.raises(ApiError) as err:
        writer(ctx).write(dict(episode, status="active"), "create", caller())
    assert refusal(err) == (409, f"episode {EPISODE} exists with other content; PUT it to change it", "episode_id")


def test_refused_writes_are_audited_as_denied_with_their_action(ctx: Context, episode: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as err:  # a patient-scoped token creates nothing
        writer(ctx).write(episode, "create", caller(patient_limit="someone-else"))
    assert refusal(err)[0] == 403 and rows(ctx, DomainRecord) == []
    assert audit(ctx) == [("create", "CarePlan", EPISODE, None, None, audit(ctx)[0][5], "tester", "req-1", "4")]
    pid = writer(ctx).write(episode, "create", caller()).body["patient_id"]
    before = len(audit(ctx))
    with pytest.raises(ApiError) as err:  # another patient's episode looks missing
        writer(ctx).write(episode, "replace", caller(patient_limit="someone-else"))
    assert refusal(err) == (404, f"episode {EPISODE!r} is not known", "")
    assert [a[:5] + a[6:] for a in audit(ctx)[before:]] == [
        ("update", "CarePlan", EPISODE, None, pid, "tester", "req-1", "4")]
    moved = copy.deepcopy(episode)
    moved["patient"]["value"] = "P-OTHER"
    with pytest.raises(ApiError) as err:  # nobody moves an episode to another patient
        writer(ctx).write(moved, "replace", caller())
    assert (refusal(err)[0], refusal(err)[2]) == (409, "patient")
    assert audit(ctx)[-1][0] == "update" and audit(ctx)[-1][-1] == "4"
    assert len(rows(ctx, PatientRow)) == 1 and rows(ctx, DomainRecord)[0].data == episode


def test_an_accepted_write_tells_the_mappings_warnings_and_its_replay_tells_them_again(
    ctx: Context, episode: dict[str, Any],
) -> None:
    short = copy.deepcopy(episode)
    short["responses"][0]["answers"]["lbp.duration"] = "lt-6wk"  # shorter than 3 months: low back pain, a warning
    first = writer(ctx).write(short, "create", caller(idempotency_key="k1"), short)
    [warning] = first.body["issues"]["issue"]
    assert (warning["severity"], warning["expression"]) == ("warning", ["responses[0].answers.lbp.duration"])
    again = writer(ctx).write(short, "create", caller(idempotency_key="k1"), short)
    assert again.body == first.body and again.headers["Idempotent-Replayed"] == "true"
