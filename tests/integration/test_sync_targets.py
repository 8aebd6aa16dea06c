"""Two real EHR targets on one outbox: HAPI behind the fault proxy (A) refuses every request with 503
while a private Medplum (B) gets every entry of the same patient, each resource exactly once; when A
recovers it gets everything exactly once too, in the order it was written (the later goal edit wins)."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from service.adapters.fhir_client import FhirClient
from tests.integration.test_sync_faults import assert_each_once, copies
from tests.servers.faultproxy.proxy import Fault, FaultProxy
from tests.sync import support as sync

pytestmark = [pytest.mark.hapi, pytest.mark.medplum, pytest.mark.slow]
TARGETS = ["hapi", "medplum"]


@pytest.fixture
def proxy(hapi_url: str) -> Iterator[FaultProxy]:
    p = FaultProxy(hapi_url).start()
    yield p
    p.stop()


def goal_text(base: str, goal: dict[str, object]) -> str:
    name, value = sync.identifier_query(goal).split("=", 1)
    [found] = FhirClient(base).search("Goal", {name: unquote(value)})
    return str(found["description"]["text"])


def test_a_refusing_target_does_not_hold_back_the_other(
    proxy: FaultProxy, hapi_url: str, private_medplum: str, tmp_path: Path,
) -> None:
    store = sync.new_store(tmp_path)
    payload = sync.unique_episode(60)
    goal = copy.deepcopy(sync.first_of(sync.episode_resources(payload), "Goal"))
    goal["description"] = {"text": "ETMI: brisk walking 30 minutes, 5 days a week"}
    sync.enqueue_bundle(store, sync.episode_bundle(payload), "p1", targets=TARGETS)
    sync.enqueue_resource(store, goal, "p1", targets=TARGETS)
    proxy.inject(*[Fault("status", status=503) for _ in range(1000)])
    a = sync.target_for(proxy.url, "hapi", backoff_base=0.5, backoff_cap=1.0, max_attempts=1000)
    p = sync.pusher(store, [a, sync.target_for(private_medplum, "medplum")])

    deadline = time.monotonic() + 120
    while store.outbox.counts_by_target().get("medplum") != {"sent": 2} and time.monotonic() < deadline:
        sync.drain(p)
        time.sleep(0.2)
    by_target = store.outbox.counts_by_target()
    assert by_target["medplum"] == {"sent": 2}, by_target
    assert by_target["hapi"] == {"failed": 1, "pending": 1}, "A's second entry waits behind its first"
    assert_each_once(private_medplum, payload, rewritten=[goal["id"]])
    assert goal_text(private_medplum, goal) == goal["description"]["text"]
    assert any(s.fault == "status" for s in proxy.seen), "A was asked and refused"
    assert all(copies(hapi_url, r) == 0 for r in sync.episode_resources(payload)), "nothing reached A"

    proxy.clear()
    reports = sync.drain_until_settled(p, store, 180)
    assert store.outbox.counts() == {"sent": 4}, [r.errors for r in reports if r.errors]
    assert_each_once(hapi_url, payload, rewritten=[goal["id"]])
    assert goal_text(hapi_url, goal) == goal["description"]["text"], "A got the edit after the episode"
    assert_each_once(private_medplum, payload, rewritten=[goal["id"]])
