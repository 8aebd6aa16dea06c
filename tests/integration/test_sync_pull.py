"""Incremental pull of EHR edits (Goal, CarePlan) from the real servers, with paging and overlap."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from mappings.domain import ActivityGoal, CarePlanState
from service.adapters.fhir_client import FhirClient
from service.adapters.file_state import FileSyncState
from service.store import Store
from service.sync.clock import SystemClock
from service.sync.pull import Puller
from service.sync.targets import Target
from tests.integration.test_sync_conflicts import ehr_edit
from tests.servers.faultproxy.proxy import Fault, FaultProxy
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


class KnownEdits:
    """A ``RemoteEditPort`` taking the edits of what this test wrote (known to its id map), keeping what it
    was handed: the local id, the type, the object the Puller mapped, and the resource."""

    def __init__(self, store: Store) -> None:
        self.id_map = store.id_map
        self.applied: list[tuple[str | None, str, Any, dict[str, Any]]] = []

    def apply(self, target: str, resource_type: str, mapped: Any, resource: dict[str, Any]) -> bool:
        local = self.id_map.local_id(target, resource_type, str(resource.get("id")))
        self.applied.append((local, resource_type, mapped, copy.deepcopy(resource)))
        return local is not None


@pytest.fixture
def ehr(ehr_url: tuple[str, str]) -> Target:
    # page size 1 forces the pull through several pages of next links
    return target_for(ehr_url[1], ehr_url[0], page_size=1, pull_overlap_seconds=600)


def test_pull_applies_ehr_edits_once_and_skips_own_writes(ehr: Target, tmp_path: Path) -> None:
    store = new_store(tmp_path)
    edits = KnownEdits(store)
    applied = edits.applied
    state = FileSyncState(tmp_path / "state.json")
    payload = unique_episode(7)
    resources = episode_resources(payload)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    drain(pusher(store, [ehr], state=state))
    client = FhirClient(ehr.base_url)
    puller = Puller(store.id_map, state, [(ehr, client)], SystemClock(), edits)

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
    mine = sorted((local, r["resourceType"], r.get("status") or r.get("lifecycleStatus")) for local, _t, _m, r
                  in applied if local is not None)
    assert mine == sorted([(goal["id"], "Goal", "on-hold"), (plan["id"], "CarePlan", "on-hold")])
    assert second.applied == 2
    handed = {t: m for local, t, m, _r in applied if local is not None}  # mapped once, by the Puller
    assert isinstance(handed["Goal"], ActivityGoal) and handed["Goal"].lifecycle_status == "on-hold"
    assert isinstance(handed["CarePlan"], CarePlanState) and handed["CarePlan"].status == "on-hold"
    assert handed["CarePlan"].episode_id == payload["episode_id"]

    applied.clear()
    puller.run_once()
    assert [e for e in applied if e[0] is not None] == [], "an applied edit is not applied twice"


def test_a_server_refusing_the_identifier_filter_is_polled_without_it(
    ehr_url: tuple[str, str], tmp_path: Path,
) -> None:
    """The fault proxy answers 400 to the ``identifier=system|`` filter (as a server that does not
    support it would): the pull asks again without it and still finds the EHR's edit."""
    name, base = ehr_url
    proxy = FaultProxy(base).start()
    try:
        ehr = target_for(proxy.url, name, pull_overlap_seconds=5)
        store = new_store(tmp_path)
        state = FileSyncState(tmp_path / "state.json")
        payload = unique_episode(8)
        enqueue_bundle(store, episode_bundle(payload), "p1")
        drain(pusher(store, [ehr], state=state))
        client = FhirClient(ehr.base_url)
        puller = Puller(store.id_map, state, [(ehr, client)], SystemClock(), KnownEdits(store))
        puller.run_once()  # cursors: the next pull asks only for what changed since

        goal = first_of(episode_resources(payload), "Goal")
        goal_id, pushed_version = store.id_map.get(name, "Goal", goal["id"]) or ("", None)
        ehr_edit(client, "Goal", goal_id, {"lifecycleStatus": "on-hold"})
        edited_version = (client.read("Goal", goal_id).body or {})["meta"]["versionId"]
        assert pushed_version and edited_version != pushed_version
        proxy.clear()
        proxy.inject(*(Fault("status", status=400, method="GET", path=rf"/{t}\?.*identifier=")
                       for t in ("Goal", "CarePlan")))
        report = puller.run_once()
    finally:
        proxy.stop()
    refused = [s.target for s in proxy.seen if s.fault == "status"]
    unfiltered = [s.target for s in proxy.seen if s.fault == "pass" and s.method == "GET"
                  and re.search(r"/(Goal|CarePlan)\?", s.target) and "identifier=" not in s.target]
    assert len(refused) == 2 and len(unfiltered) >= 2, proxy.seen
    assert report.applied == 1, report
    learned = store.id_map.get(name, "Goal", goal["id"])
    assert learned == (goal_id, edited_version), "the id map learned the EHR's version"
