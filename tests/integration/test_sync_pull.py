"""Incremental pull of EHR edits (Goal, CarePlan) from the real servers, with paging and overlap."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from service.adapters.fhir_client import FhirClient
from service.adapters.file_state import FileSyncState
from service.sync.clock import SystemClock
from service.sync.pull import Puller
from service.sync.targets import Target
from tests.integration.test_sync_conflicts import ehr_edit
from tests.sync.support import (
    drain,
    enqueue_bundle,
    episode_bundle,
    episode_resources,
    first_of,
    new_store,
    pusher,
    target_for,
    unique_episode,
)


@pytest.fixture
def ehr(ehr_url: tuple[str, str]) -> Target:
    # page size 1 forces the pull through several pages of next links
    return target_for(ehr_url[1], ehr_url[0], page_size=1, pull_overlap_seconds=600)


def test_pull_applies_ehr_edits_once_and_skips_own_writes(ehr: Target, tmp_path: Path) -> None:
    store = new_store(tmp_path)
    applied: list[tuple[str | None, dict[str, Any]]] = []

    def apply(_target: str, local_id: str | None, resource: dict[str, Any]) -> bool:
        applied.append((local_id, copy.deepcopy(resource)))
        return local_id is not None

    state = FileSyncState(tmp_path / "state.json", apply=apply)
    payload = unique_episode(7)
    resources = episode_resources(payload)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    drain(pusher(store, [ehr], state=state))
    client = FhirClient(ehr.base_url)
    puller = Puller(store.id_map, state, [(ehr, client)], SystemClock())

    first = puller.run_once()
    mine = [e for e in applied if e[0] is not None]
    assert mine == [], "our own writes echoed back are not EHR edits"
    assert first.own_writes >= 2 and first.cursors

    goal, plan = first_of(resources, "Goal"), first_of(resources, "CarePlan")
    goal_id = (store.id_map.get(ehr.name, "Goal", goal["id"]) or ("",))[0]
    plan_id = (store.id_map.get(ehr.name, "CarePlan", plan["id"]) or ("",))[0]
    ehr_edit(client, "Goal", goal_id, {"lifecycleStatus": "on-hold"})
    ehr_edit(client, "CarePlan", plan_id, {"status": "on-hold"})
    applied.clear()

    second = puller.run_once()
    mine = sorted((local, r["resourceType"], r.get("status") or r.get("lifecycleStatus")) for local, r in applied
                  if local is not None)
    assert mine == sorted([(goal["id"], "Goal", "on-hold"), (plan["id"], "CarePlan", "on-hold")])
    assert second.applied == 2

    applied.clear()
    puller.run_once()
    assert [e for e in applied if e[0] is not None] == [], "an applied edit is not applied twice"
