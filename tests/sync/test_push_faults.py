"""What the push does when answers get lost, entries are malformed, conflicts keep coming or the EHR was
edited meanwhile: on the real SQLite outbox and the honest in-process EHR of ``fakes.py`` (conditional
create/update, If-Match with 412 or 409, atomic transactions). The same paths run against HAPI and
Medplum in tests/integration/test_sync_faults.py and test_sync_conflicts.py."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from service.store import Store
from service.sync.clock import SystemClock
from service.sync.push import MAX_CONFLICT_ROUNDS, Pusher
from service.sync.targets import Target
from tests.sync.fakes import FakeEhr
from tests.sync.support import (
    drain_until_settled,
    enqueue_bundle,
    enqueue_resource,
    episode_bundle,
    episode_resources,
    first_of,
    new_store,
    target_for,
    unique_episode,
)


def fake_pusher(store: Store, target: Target, ehr: FakeEhr, worker: str = "w1") -> Pusher:
    return Pusher(store.outbox, store.id_map, [(target, ehr)], SystemClock(), worker, state=store.sync_state)


def stored_types(ehr: FakeEhr) -> Counter[str]:
    return Counter(r["resourceType"] for (t, _i), v in ehr.store.items() if v[-1] is not None for r in [v[-1]])


@pytest.mark.parametrize("mode, lost", [("transaction", {1}), ("transaction", {3}), ("transaction", {2, 5}),
                                        ("batch", {2}), ("batch", {99}), ("individual", {4})],
                         ids=["tx-first", "tx-third", "tx-second-and-fifth", "batch-level", "batch-provenance",
                              "individual"])
def test_lost_answers_leave_every_resource_and_each_provenance_once(
    tmp_path: Path, mode: str, lost: set[int],
) -> None:
    store, payload = new_store(tmp_path), unique_episode(3)
    bundle = episode_bundle(payload)
    enqueue_bundle(store, bundle, "p1")
    ehr = FakeEhr("a")
    target = target_for(ehr.base_url, "a", mode=mode, max_entries=8)  # several chunks of 7 + a Provenance
    if 99 in lost:  # the last request of a batch push is its Provenance
        (tmp_path / "probe").mkdir()
        probe, probe_store = FakeEhr("probe"), new_store(tmp_path / "probe")
        enqueue_bundle(probe_store, bundle, "p1")
        fake_pusher(probe_store, target_for(probe.base_url, "probe", mode=mode), probe).run_once()
        assert probe.sent("Provenance") and probe.received[-1]["resourceType"] == "Provenance"
        lost = {probe.requests}
    ehr.lose = lost
    reports = drain_until_settled(fake_pusher(store, target, ehr), store, 20)
    assert store.outbox.counts() == {"sent": 1}, [r.errors for r in reports]
    assert sum(r.retried for r in reports) == len(lost)
    expected = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    chunks = -(-len(bundle["entry"]) // 7) if mode == "transaction" else 1
    assert stored_types(ehr) == {**expected, "Provenance": chunks}, "each resource once, one Provenance a chunk"
    assert_each_named_once(ehr)


def assert_each_named_once(ehr: FakeEhr) -> None:
    """Every resource the EHR holds is the target of exactly one of its Provenance resources."""
    named = Counter("/".join(t["reference"].split("/")[:2]) for p in ehr.current("Provenance") for t in p["target"])
    held = [f"{t}/{i}" for (t, i), v in ehr.store.items() if v[-1] is not None and t != "Provenance"]
    assert {ref: named[ref] for ref in held} == dict.fromkeys(held, 1)


def test_a_lost_answer_after_a_conflict_round_keeps_one_provenance(tmp_path: Path) -> None:
    store, payload = new_store(tmp_path), unique_episode(4)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    ehr = FakeEhr("a")
    target = target_for(ehr.base_url, "a", max_entries=8)
    drain_until_settled(fake_pusher(store, target, ehr), store)
    observation = copy.deepcopy(first_of(episode_resources(payload), "Observation"))
    remote_id = (store.id_map.get("a", "Observation", observation["id"]) or ("",))[0]
    ehr.edit("Observation", remote_id, note=[{"text": "edited in the EHR"}])  # our next If-Match is stale
    observation["note"] = [{"text": "corrected by the service"}]
    enqueue_resource(store, observation, "p1")
    before = stored_types(ehr)["Provenance"]
    ehr.lose = {ehr.requests + 3}  # PUT (412), read, PUT again: its answer is lost
    reports = drain_until_settled(fake_pusher(store, target, ehr), store)
    assert store.outbox.counts() == {"sent": 2}, [r.errors for r in reports]
    assert stored_types(ehr)["Provenance"] == before + 1
    assert ehr.history("Observation", remote_id)[-1]["note"] == [{"text": "corrected by the service"}]


@pytest.mark.parametrize("resource, operation, why", [
    ({"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {"resourceType": "Goal"}}]},
     "transaction", "without fullUrl"),
    ({"resourceType": "Goal", "id": "g1", "lifecycleStatus": "active"}, "update", "no business identifier"),
    ({"resourceType": "Goal", "id": "g1", "identifier": [{"system": "urn:x", "value": "g1"}]}, "merge",
     "unknown operation 'merge'"),
], ids=["bundle-entry-without-fullUrl", "no-identifier", "unknown-operation"])
def test_a_malformed_entry_is_dead_lettered_and_does_not_block_the_next(
    tmp_path: Path, resource: dict[str, Any], operation: str, why: str,
) -> None:
    store, ehr = new_store(tmp_path), FakeEhr("a")
    bad = {**resource, "id": "bad"} if operation != "transaction" else resource
    enqueue_resource(store, {**bad, "id": "bad"}, "p1", operation=operation)
    good = {"resourceType": "Goal", "id": "g2", "identifier": [{"system": "urn:x", "value": "g2"}],
            "lifecycleStatus": "active", "description": {"text": "walk"}, "subject": {"display": "p1"}}
    enqueue_resource(store, good, "p1")
    p = fake_pusher(store, target_for(ehr.base_url, "a"), ehr)
    first = p.run_once(batch_size=1)
    assert (first.claimed, first.dead, first.sent) == (1, 1, 0)
    [dead] = store.outbox.list("dead")
    assert dead.id == 1 and dead.outcome is not None
    issue = dead.outcome["issue"][0]
    assert issue["code"] == "invalid" and why in issue["diagnostics"]
    assert ehr.received == [], "nothing of a malformed entry reaches the EHR"
    assert p.run_once().sent == 1, "a dead letter does not hold back the patient's next entry"
    assert [g["description"]["text"] for g in ehr.current("Goal")] == ["walk"]


def pushed_observation(tmp_path: Path, conflict_status: int) -> tuple[Store, FakeEhr, Target, dict[str, Any], str]:
    """An episode on the EHR, then a local correction of one Observation queued."""
    store, payload = new_store(tmp_path), unique_episode(5)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    ehr = FakeEhr("a", conflict_status=conflict_status)
    target = target_for(ehr.base_url, "a", max_attempts=3)
    drain_until_settled(fake_pusher(store, target, ehr), store)
    observation = copy.deepcopy(first_of(episode_resources(payload), "Observation"))
    observation["note"] = [{"text": "corrected by the service"}]
    enqueue_resource(store, observation, "p1")
    remote = store.id_map.get("a", "Observation", observation["id"])
    assert remote is not None
    return store, ehr, target, observation, remote[0]


@pytest.mark.parametrize("status", [412, 409])
def test_the_retry_after_a_concurrent_amend_writes_ours_on_the_new_version(tmp_path: Path, status: int) -> None:
    store, ehr, target, _obs, rid = pushed_observation(tmp_path, status)
    ehr.edit("Observation", rid, note=[{"text": "amended in the EHR"}])
    report = fake_pusher(store, target, ehr).run_once()
    assert (report.sent, report.conflicts) == (1, 1), report.errors
    versions = ehr.history("Observation", rid)
    assert [v["meta"]["versionId"] for v in versions] == ["1", "2", "3"]
    assert [v.get("note") for v in versions][1:] == [[{"text": "amended in the EHR"}],
                                                    [{"text": "corrected by the service"}]]
    [conflict] = store.sync_state.list_conflicts()
    assert (conflict.policy, conflict.resolution, conflict.status) == ("service-wins", "overwrote-ehr", "resolved")
    assert store.id_map.get("a", "Observation", conflict.local_id) == (rid, "3")


def test_conflict_retries_run_out_and_the_entry_waits_for_a_later_attempt(tmp_path: Path) -> None:
    store, ehr, target, _obs, rid = pushed_observation(tmp_path, 412)
    ehr.edit("Observation", rid, note=[{"text": "amended in the EHR"}])
    ehr.after_read = lambda t, i: ehr.edit(t, i, note=[{"text": f"amended again ({ehr.requests})"}])
    report = fake_pusher(store, target, ehr).run_once()
    assert (report.retried, report.sent, report.conflicts) == (1, 0, MAX_CONFLICT_ROUNDS + 1)
    entry = store.outbox.get(2)
    assert entry is not None and entry.status == "failed"
    assert entry.last_error is not None and "still unresolved after retries" in entry.last_error
    puts = [r for r in ehr.sent("Observation") if r.get("note") == [{"text": "corrected by the service"}]]
    assert len(puts) == MAX_CONFLICT_ROUNDS + 1, "one first try and MAX_CONFLICT_ROUNDS re-sends, then it stops"
    ehr.after_read = None  # the EHR's editor stopped: the next attempt goes through
    drain_until_settled(fake_pusher(store, target, ehr), store)
    assert store.outbox.counts() == {"sent": 2}
    assert ehr.history("Observation", rid)[-1]["note"] == [{"text": "corrected by the service"}]


def test_a_held_goal_is_dead_lettered_for_a_clinician_while_the_rest_is_sent(tmp_path: Path) -> None:
    store, payload = new_store(tmp_path), unique_episode(6)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    ehr = FakeEhr("a", conflict_status=409)
    target = target_for(ehr.base_url, "a")
    drain_until_settled(fake_pusher(store, target, ehr), store)
    resources = episode_resources(payload)
    goal = copy.deepcopy(first_of(resources, "Goal"))
    rid = (store.id_map.get("a", "Goal", goal["id"]) or ("",))[0]
    ehr.edit("Goal", rid, description={"text": "changed by the clinician"})
    goal["description"] = {"text": "changed by the service"}
    enqueue_resource(store, goal, "p1")
    report = fake_pusher(store, target, ehr).run_once()
    assert (report.held, report.sent) == (1, 0)
    assert ehr.history("Goal", rid)[-1]["description"] == {"text": "changed by the clinician"}, "the EHR's edit stays"
    [conflict] = store.sync_state.list_conflicts()
    assert (conflict.policy, conflict.status) == ("hold", "held")


def test_several_ehr_resources_with_one_identifier_are_dead_lettered_not_retried(tmp_path: Path) -> None:
    store, ehr = new_store(tmp_path), FakeEhr("a")
    goal = {"resourceType": "Goal", "id": "g1", "identifier": [{"system": "urn:x", "value": "g1"}],
            "lifecycleStatus": "active", "description": {"text": "walk"}, "subject": {"display": "p1"}}
    for _ in range(2):  # someone copied it in the EHR: the conditional update matches two
        ehr.create({k: v for k, v in goal.items() if k != "id"})
    enqueue_resource(store, goal, "p1")
    report = fake_pusher(store, target_for(ehr.base_url, "a"), ehr).run_once()
    assert (report.dead, report.retried) == (1, 0)
    [dead] = store.outbox.list("dead")
    assert dead.outcome is not None and dead.outcome["issue"][0]["code"] == "conflict"
    assert len(ehr.current("Goal")) == 2
