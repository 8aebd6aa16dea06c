"""Targets without transactions (``mode = "batch"`` or ``"individual"``) against the honest fake EHR:
ids and versions read from Location or from the body, conditional creates that find the EHR's own
copy, If-Match on later updates, deletes, and a second entry whose Patient is already there."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from service.store import Store
from service.sync.clock import SystemClock
from service.sync.push import Pusher
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


def push(store: Store, target: Target, ehr: FakeEhr) -> list[Any]:
    p = Pusher(store.outbox, store.id_map, [(target, ehr)], SystemClock(), "w1", state=store.sync_state)
    return drain_until_settled(p, store, 20)


def remote_of(store: Store, resource: dict[str, Any]) -> tuple[str, str | None]:
    found = store.id_map.get("a", resource["resourceType"], resource["id"])
    assert found is not None, resource["resourceType"]
    return found


@pytest.mark.parametrize("answer", [{"minimal": True}, {"headers": False}], ids=["location-only", "body-only"])
def test_individual_writes_learn_ids_and_versions_and_update_with_if_match(
    tmp_path: Path, answer: dict[str, bool],
) -> None:
    store, payload = new_store(tmp_path), unique_episode(21)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    ehr = FakeEhr("a", **answer)
    target = target_for(ehr.base_url, "a", mode="individual")
    push(store, target, ehr)
    assert store.outbox.counts() == {"sent": 1}
    for resource in episode_resources(payload):
        rid, version = remote_of(store, resource)
        assert version == ehr.history(resource["resourceType"], rid)[-1]["meta"]["versionId"]
    goal = copy.deepcopy(first_of(episode_resources(payload), "Goal"))
    rid, _version = remote_of(store, goal)
    ehr.edit("Goal", rid, description={"text": "changed in the EHR"})
    goal["description"] = {"text": "changed by the service"}
    enqueue_resource(store, goal, "p1")
    reports = push(store, target, ehr)
    assert sum(r.held for r in reports) == 1, "the If-Match of the recorded version met the EHR's edit"
    assert ehr.history("Goal", rid)[-1]["description"] == {"text": "changed in the EHR"}


@pytest.mark.parametrize("mode", ["individual", "batch"])
def test_a_conditional_create_finds_the_patient_the_ehr_already_has(tmp_path: Path, mode: str) -> None:
    store, payload = new_store(tmp_path), unique_episode(22)
    bundle = episode_bundle(payload)
    enqueue_bundle(store, bundle, "p1")
    ehr = FakeEhr("a")
    patient = first_of(episode_resources(payload), "Patient")
    existing = ehr.create({k: v for k, v in patient.items() if k != "id"})
    push(store, target_for(ehr.base_url, "a", mode=mode), ehr)
    assert len(ehr.current("Patient")) == 1
    assert remote_of(store, patient)[0] == (existing.body or {})["id"]


@pytest.mark.parametrize("mode", ["individual", "batch"])
def test_a_second_entry_sends_what_follows_the_patient_it_skips(tmp_path: Path, mode: str) -> None:
    store, payload = new_store(tmp_path), unique_episode(23)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    ehr = FakeEhr("a")
    target = target_for(ehr.base_url, "a", mode=mode)
    push(store, target, ehr)
    changed = copy.deepcopy(payload)
    changed["goals"][0]["target_minutes_per_week"] = 30 + changed["goals"][0].get("target_minutes_per_week", 0)
    enqueue_bundle(store, episode_bundle(changed), "p1", "episode-again")
    push(store, target, ehr)
    assert store.outbox.counts() == {"sent": 2}
    goal = first_of(episode_resources(changed), "Goal")
    rid, version = remote_of(store, goal)
    stored = ehr.history("Goal", rid)[-1]
    assert version == stored["meta"]["versionId"] == "2"
    assert stored["target"] == goal["target"], "the goal after the skipped Patient was written"


def test_individual_deletes_and_the_writes_after_them(tmp_path: Path) -> None:
    store, ehr = new_store(tmp_path), FakeEhr("a")
    goals = [{"resourceType": "Goal", "id": f"g{i}", "identifier": [{"system": "urn:x", "value": f"g{i}"}],
              "lifecycleStatus": "active", "description": {"text": f"goal {i}"}, "subject": {"display": "p1"}}
             for i in (1, 2)]
    target = target_for(ehr.base_url, "a", mode="individual")
    enqueue_resource(store, goals[0], "p1")
    push(store, target, ehr)
    rid, _v = remote_of(store, goals[0])
    enqueue_resource(store, goals[0], "p1", operation="delete")
    enqueue_resource(store, goals[1], "p1")
    push(store, target, ehr)
    assert store.outbox.counts() == {"sent": 3}
    assert ehr.store[("Goal", rid)][-1] is None, "the goal was deleted on the EHR"
    assert [g["description"]["text"] for g in ehr.current("Goal")] == ["goal 2"], "and the next write went out"


def test_a_batch_keeps_the_entries_that_went_through(tmp_path: Path) -> None:
    store, ehr = new_store(tmp_path), FakeEhr("a")
    goals = [{"resourceType": "Goal", "id": f"g{i}", "identifier": [{"system": "urn:x", "value": f"g{i}"}],
              "lifecycleStatus": "active", "description": {"text": f"goal {i}"}, "subject": {"display": "p1"}}
             for i in (1, 2)]
    for _ in range(2):  # two EHR copies of g1: its conditional update is refused (412)
        ehr.create({k: v for k, v in goals[0].items() if k != "id"})
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:0000000{i}-0000-4000-8000-000000000000", "resource": g,
         "request": {"method": "PUT", "url": f"Goal?identifier=urn:x|{g['id']}"}} for i, g in enumerate(goals)]}
    enqueue_bundle(store, bundle, "p1")
    push(store, target_for(ehr.base_url, "a", mode="batch"), ehr)
    assert [g["description"]["text"] for g in ehr.current("Goal")].count("goal 2") == 1, "g2 was kept"
    assert store.id_map.get("a", "Goal", "g2") is not None, "and its id remembered"
    assert store.outbox.counts() == {"dead": 1}, "412: several EHR resources match, a human must decide"
