"""Transport faults between the sync worker and the real FHIR servers, injected by the fault proxy.

Whatever fails on the way, every entry ends up sent exactly once: no duplicate resource on the EHR
(conditional entries, deterministic Provenance ids), Retry-After honoured, lost answers after a
commit recognised as our own write rather than a conflict.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from service.adapters.fhir_client import FhirClient
from service.adapters.file_state import FileSyncState
from service.store.db import utcnow
from service.sync.targets import Target
from tests.servers.faultproxy.proxy import Fault, FaultProxy
from tests.sync.support import (
    drain,
    drain_until_settled,
    enqueue_bundle,
    enqueue_resource,
    episode_bundle,
    episode_resources,
    first_of,
    identifier_query,
    new_store,
    pusher,
    target_for,
    unique_episode,
)


@pytest.fixture
def upstream(ehr_url: tuple[str, str]) -> tuple[str, str]:
    return ehr_url


@pytest.fixture
def proxy(upstream: tuple[str, str]) -> Iterator[FaultProxy]:
    p = FaultProxy(upstream[1]).start()
    yield p
    p.stop()


def via(proxy: FaultProxy, upstream: tuple[str, str], read_timeout: float = 120, **options: Any) -> Target:
    return target_for(proxy.url, upstream[0], timeout=[2, read_timeout], **options)


def found(base: str, resource: dict[str, Any]) -> list[dict[str, Any]]:
    name, value = identifier_query(resource).split("=", 1)
    return list(FhirClient(base).search(resource["resourceType"], {name: unquote(value)}))


def copies(base: str, resource: dict[str, Any]) -> int:
    return len(found(base, resource))


def provenances_of(base: str, remote: dict[str, Any]) -> set[str]:
    """Ids of the Provenance resources naming ``remote`` as a target (plain or versioned reference)."""
    client, plain = FhirClient(base), f"{remote['resourceType']}/{remote['id']}"
    refs = [plain, f"{plain}/_history/{remote.get('meta', {}).get('versionId')}"]
    return {str(p["id"]) for ref in refs for p in client.search("Provenance", {"target": ref})}


def assert_each_once(base: str, payload: dict[str, Any], rewritten: Collection[str] = ()) -> Counter[str]:
    """Every resource of the episode exists once on the EHR, and exactly one Provenance names it (one per
    transaction chunk), or two for the local ids in ``rewritten`` (written again by a later entry, with
    its own Provenance). Returns the count per resource type, ``Provenance`` included."""
    counts: Counter[str] = Counter()
    provenances: set[str] = set()
    for resource in episode_resources(payload):
        matches = found(base, resource)
        assert len(matches) == 1, f"{resource['resourceType']} written {len(matches)} times"
        counts[resource["resourceType"]] += 1
        prov = provenances_of(base, matches[0])
        expected = 2 if resource["id"] in rewritten else 1
        assert len(prov) == expected, f"{resource['resourceType']} is the target of {len(prov)} Provenance resources"
        provenances |= prov
    counts["Provenance"] = len(provenances)
    return counts


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_honoured(proxy: FaultProxy, upstream: tuple[str, str], tmp_path: Path, status: int) -> None:
    store = new_store(tmp_path)
    payload = unique_episode(10)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    proxy.inject(Fault("status", status=status, retry_after="2", method="POST"))
    p = pusher(store, [via(proxy, upstream)])
    started = utcnow()  # naive UTC, as the outbox keeps its times
    first = p.run_once()
    assert (first.retried, first.sent) == (1, 0)
    entry = store.outbox.get(1)
    assert entry is not None and (entry.next_attempt_at - started).total_seconds() >= 1.5, "Retry-After: 2"
    assert p.run_once().claimed == 0, "not due before Retry-After"
    time.sleep(2.1)
    drain(p)
    assert store.outbox.counts() == {"sent": 1}
    assert_each_once(upstream[1], payload)


@pytest.mark.parametrize("fault", [Fault("status", status=500, method="POST"), Fault("drop", method="POST"),
                                   Fault("delay", seconds=3.0, method="POST"), Fault("lose", method="POST")],
                         ids=["500", "dropped-connection", "timeout", "lost-response"])
def test_transient_faults_end_in_exactly_one_copy(
    proxy: FaultProxy, upstream: tuple[str, str], tmp_path: Path, fault: Fault,
) -> None:
    store = new_store(tmp_path)
    payload = unique_episode(11)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    proxy.inject(copy.copy(fault))
    read_timeout = 2 if fault.kind == "delay" else 120  # the delay fault outlasts the first read timeout
    reports = [pusher(store, [via(proxy, upstream, read_timeout)]).run_once()]
    assert reports[0].retried == 1, reports[0]
    reports += drain_until_settled(pusher(store, [via(proxy, upstream)]), store, 90)
    assert store.outbox.counts() == {"sent": 1}, [r.errors for r in reports if r.errors]
    assert_each_once(upstream[1], payload)
    if fault.kind in ("lose", "delay"):
        prov = [s for s in proxy.seen if s.upstream_status is not None]
        assert len(prov) >= 2, "the first transaction reached the server and was sent again"


def test_lost_answer_to_an_if_match_update_is_not_a_conflict(
    proxy: FaultProxy, upstream: tuple[str, str], tmp_path: Path,
) -> None:
    store = new_store(tmp_path)
    state = FileSyncState(tmp_path / "state.json")
    payload = unique_episode(12)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    drain(pusher(store, [via(proxy, upstream)], state=state))
    goal = copy.deepcopy(first_of(episode_resources(payload), "Goal"))
    goal["description"] = {"text": "ETMI: 150 minutes of brisk walking a week"}
    enqueue_resource(store, goal, "p1")
    proxy.inject(Fault("lose", method="POST"))
    reports = drain_until_settled(pusher(store, [via(proxy, upstream)], state=state), store)
    assert store.outbox.counts() == {"sent": 2}, [r.errors for r in reports]
    [conflict] = state.list_conflicts()
    assert (conflict.resolution, conflict.status) == ("already-applied", "resolved")


def test_endless_503_is_dead_lettered_after_max_attempts(
    proxy: FaultProxy, upstream: tuple[str, str], tmp_path: Path,
) -> None:
    store = new_store(tmp_path)
    enqueue_bundle(store, episode_bundle(unique_episode(13)), "p1")
    proxy.inject(*[Fault("status", status=503, method="POST") for _ in range(3)])
    p = pusher(store, [via(proxy, upstream, max_attempts=3)])
    for _ in range(3):
        p.run_once()
        time.sleep(0.1)
    entry = store.outbox.get(1)
    assert store.outbox.counts() == {"dead": 1}
    assert entry is not None and entry.attempts == 3


@pytest.mark.parametrize("lost", [[3], [2, 4]], ids=["third-chunk", "second-and-fourth-chunks"])
def test_answers_lost_mid_send_leave_each_resource_and_each_provenance_once(
    proxy: FaultProxy, upstream: tuple[str, str], tmp_path: Path, lost: list[int],
) -> None:
    """Chunks of 7 writes + 1 Provenance: the chunks before a lost answer are in the id map, so the retry
    skips the Patient it already created; the Provenance of every chunk must still be updated, not added."""
    store, payload = new_store(tmp_path), unique_episode(14)
    bundle = episode_bundle(payload)
    enqueue_bundle(store, bundle, "p1")
    pattern = [Fault("lose", method="POST") if n in lost else Fault("delay", seconds=0, method="POST")
               for n in range(1, max(lost) + 1)]  # delay 0 = forwarded untouched
    proxy.inject(*pattern)
    reports = drain_until_settled(pusher(store, [via(proxy, upstream, max_entries=8)]), store, 120)
    assert store.outbox.counts() == {"sent": 1}, [r.errors for r in reports if r.errors]
    assert sum(r.retried for r in reports) == len(lost)
    counts = assert_each_once(upstream[1], payload)
    expected = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    assert counts == {**expected, "Provenance": -(-len(bundle["entry"]) // 7)}
