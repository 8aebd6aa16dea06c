"""Conflict policy against the real servers: the EHR edits a resource, then the service writes it.

HAPI answers a stale If-Match with 409, Medplum with 412; both must lead to the same decisions:
Goal held for a clinician, CarePlan status taken from the EHR, outcome Observation overwritten.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from service.adapters.fhir_client import FhirClient
from service.adapters.file_state import FileSyncState
from service.sync.targets import Target
from tests.sync.support import (
    drain,
    enqueue_bundle,
    enqueue_resource,
    episode_bundle,
    episode_resources,
    first_of,
    new_store,
    pusher,
    unique_episode,
)


def ehr_edit(client: FhirClient, resource_type: str, remote_id: str, change: dict[str, Any]) -> dict[str, Any]:
    current = client.read(resource_type, remote_id)
    body = {**(current.body or {}), **change}
    return client.update(body, if_match=current.etag).body or {}


def test_conflicts_follow_the_policy_per_resource_type(ehr: Target, tmp_path: Path) -> None:
    store = new_store(tmp_path)
    state = FileSyncState(tmp_path / "state.json")
    payload = unique_episode(6)
    resources = episode_resources(payload)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    drain(pusher(store, [ehr], state=state))
    client = FhirClient(ehr.base_url)
    goal, plan, obs = (copy.deepcopy(first_of(resources, t)) for t in ("Goal", "CarePlan", "Observation"))
    ids = {r["resourceType"]: (store.id_map.get(ehr.name, r["resourceType"], r["id"]) or ("",))[0]
           for r in (goal, plan, obs)}

    ehr_edit(client, "Goal", ids["Goal"], {"description": {"text": "EHR: walk 10 minutes a day"}})
    ehr_edit(client, "CarePlan", ids["CarePlan"], {"status": "on-hold"})
    ehr_edit(client, "Observation", ids["Observation"], {"note": [{"text": "EHR annotation"}]})

    goal["description"] = {"text": "ETMI: walk briskly 150 minutes a week"}
    plan["title"] = "ETMI plan, revised"
    obs["valueQuantity"] = {**obs["valueQuantity"], "value": 2}
    for resource in (goal, plan, obs):
        enqueue_resource(store, resource, "p1")
    reports = drain(pusher(store, [ehr], state=state))

    assert store.outbox.counts() == {"sent": 3, "dead": 1}, [r.errors for r in reports]
    assert (client.read("Goal", ids["Goal"]).body or {})["description"]["text"] == "EHR: walk 10 minutes a day"
    remote_plan = client.read("CarePlan", ids["CarePlan"]).body or {}
    assert (remote_plan["status"], remote_plan["title"]) == ("on-hold", "ETMI plan, revised")
    remote_obs = client.read("Observation", ids["Observation"]).body or {}
    assert remote_obs["valueQuantity"]["value"] == 2 and "note" not in remote_obs

    held = state.list_conflicts("held")
    assert [(c.resource_type, c.policy) for c in held] == [("Goal", "hold")]
    resolved = {(c.resource_type, c.resolution) for c in state.list_conflicts("resolved")}
    assert resolved == {("CarePlan", "merged ehr status"), ("Observation", "overwrote-ehr")}


def test_a_clinician_resolves_a_held_goal_and_the_replay_writes_it(ehr: Target, tmp_path: Path) -> None:
    from service.cli import main

    store = new_store(tmp_path)
    state_path = tmp_path / "state.json"
    payload = unique_episode(14)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    drain(pusher(store, [ehr]))
    client = FhirClient(ehr.base_url)
    goal = copy.deepcopy(first_of(episode_resources(payload), "Goal"))
    goal_id = (store.id_map.get(ehr.name, "Goal", goal["id"]) or ("",))[0]
    ehr_edit(client, "Goal", goal_id, {"description": {"text": "EHR edit"}})
    goal["description"] = {"text": "ETMI edit the clinician prefers"}
    enqueue_resource(store, goal, "p1")
    drain(pusher(store, [ehr], state=FileSyncState(state_path)))
    assert store.outbox.counts() == {"sent": 1, "dead": 1}

    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"targets": [{"name": ehr.name, "base_url": ehr.base_url, "max_entries": 8}]}))
    common = ["--targets", str(targets), "--database-url", f"sqlite:///{tmp_path / 'etmi.db'}",
              "--state", str(state_path)]
    assert main(["sync", "resolve", ehr.name, "Goal", goal["id"], "--keep", "service", *common]) == 0
    assert FileSyncState(state_path).list_conflicts("held") == []
    assert main(["sync", "replay", "--all-dead", *common]) == 0
    assert main(["sync", "push", *common]) == 0
    assert store.outbox.counts() == {"sent": 2}
    assert (client.read("Goal", goal_id).body or {})["description"]["text"] == "ETMI edit the clinician prefers"


def test_ehr_wins_keeps_the_ehr_version_and_hands_it_to_the_store(ehr: Target, tmp_path: Path) -> None:
    """Condition: the EHR's clinical record wins outright; nothing is written, the store gets its version."""
    store = new_store(tmp_path)
    state = FileSyncState(tmp_path / "state.json")
    payload = unique_episode(15)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    drain(pusher(store, [ehr], state=state))
    client = FhirClient(ehr.base_url)
    condition = copy.deepcopy(first_of(episode_resources(payload), "Condition"))
    remote_id = (store.id_map.get(ehr.name, "Condition", condition["id"]) or ("",))[0]
    edited = ehr_edit(client, "Condition", remote_id, {"note": [{"text": "EHR: confirmed by GP"}]})
    condition["note"] = [{"text": "ETMI note"}]
    enqueue_resource(store, condition, "p1")
    reports = drain(pusher(store, [ehr], state=state))
    assert store.outbox.counts() == {"sent": 2}, [r.errors for r in reports]
    assert (client.read("Condition", remote_id).body or {})["note"] == [{"text": "EHR: confirmed by GP"}]
    [inbox] = state.inbox()
    assert inbox["local_id"] == condition["id"] and inbox["resource"]["note"] == edited["note"]
    assert store.id_map.get(ehr.name, "Condition", condition["id"]) == (remote_id, edited["meta"]["versionId"])
    [conflict] = state.list_conflicts()
    assert (conflict.policy, conflict.resolution, conflict.status) == ("ehr-wins", "kept ehr version", "resolved")
