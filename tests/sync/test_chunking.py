"""Transactions at the target's size limit, learned from its refusals (service/sync/chunking.py): on the real
SQLite store and the fake EHR of ``fakes.py`` refusing large transactions as Medplum (400) or HAPI (413)
does. The same against the real Medplum: tests/integration/test_sync_medplum_limits.py."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from service.store import Store, open_store
from service.sync.chunking import ChunkSizes, cell_end, depth_for, smaller
from service.sync.clock import SystemClock
from service.sync.errors import TooLargeError, classify
from service.sync.ports import RejectedError
from service.sync.push import Pusher
from service.sync.size_probe import measure
from service.sync.targets import Target
from tests.sync.fakes import FakeEhr
from tests.sync.support import (
    drain_until_settled,
    enqueue_bundle,
    episode_bundle,
    new_store,
    target_for,
    unique_episode,
)
from tests.sync.test_push_faults import assert_each_named_once, stored_types


def fake_pusher(store: Store, target: Target, ehr: FakeEhr, worker: str = "w1") -> Pusher:
    return Pusher(store.outbox, store.id_map, [(target, ehr)], SystemClock(), worker, state=store.sync_state)


def enqueue_episodes(store: Store, count: int, start: int = 0) -> list[dict[str, Any]]:
    bundles = []
    for i in range(start, start + count):
        bundle = episode_bundle(unique_episode(i))
        enqueue_bundle(store, bundle, f"p{i}")
        bundles.append(bundle)
    return bundles


def expected_types(bundles: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["resource"]["resourceType"] for b in bundles for e in b["entry"])


def transactions_sent(ehr: FakeEhr) -> int:
    return ehr.requests - ehr.too_large


@pytest.mark.parametrize("status", [400, 413], ids=["medplum-400", "hapi-413"])
def test_a_target_by_base_url_only_gets_every_episode_in_transactions_it_accepts(tmp_path: Path, status: int) -> None:
    store = new_store(tmp_path)
    bundles = enqueue_episodes(store, 3)
    ehr = FakeEhr("a", max_transaction_entries=8, too_large_status=status)
    target = target_for(ehr.base_url, "a")  # max_entries: the default 50
    reports = drain_until_settled(fake_pusher(store, target, ehr), store, 10)
    assert store.outbox.counts() == {"sent": 3}, [r.errors for r in reports]
    assert sum(r.dead for r in reports) == sum(r.retried for r in reports) == 0
    assert ehr.too_large == 3, "34 writes: refused at 35, 26 and 14 entries, then 8 for the first patient only"
    assert stored_types(ehr) == {**expected_types(bundles), "Provenance": transactions_sent(ehr)}
    assert_each_named_once(ehr)
    learned = ChunkSizes(store.sync_state).learned("a")
    assert learned is not None and (learned.max_entries, learned.refused, learned.status) == (8, 14, status)


def test_two_pushers_and_a_second_process_start_at_the_size_learned_in_the_database(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    enqueue_episodes(store, 1)
    ehr = FakeEhr("a", max_transaction_entries=8)
    target = target_for(ehr.base_url, "a")
    drain_until_settled(fake_pusher(store, target, ehr, "w1"), store, 10)
    assert ehr.too_large == 3
    enqueue_episodes(store, 1, start=1)
    drain_until_settled(fake_pusher(store, target, ehr, "w2"), store, 10)  # another Pusher: nothing in memory
    other = open_store(f"sqlite:///{tmp_path / 'etmi.db'}")  # what another process opens
    enqueue_episodes(other, 1, start=2)
    drain_until_settled(fake_pusher(other, target, ehr, "w3"), other, 10)
    assert ehr.too_large == 3, "the second and third pusher sent no transaction the target refuses"
    assert store.outbox.counts() == {"sent": 3}
    assert_each_named_once(ehr)


def test_a_size_refusal_is_never_a_dead_letter_even_when_one_write_is_too_many(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    bundles = enqueue_episodes(store, 2)
    ehr = FakeEhr("a", max_transaction_entries=1)  # refuses every transaction with a conditional entry
    target = target_for(ehr.base_url, "a", max_entries=4)
    reports = drain_until_settled(fake_pusher(store, target, ehr), store, 10)
    assert store.outbox.counts() == {"sent": 2}, [r.errors for r in reports]
    assert stored_types(ehr) - expected_types(bundles) == Counter({"Provenance": sum(len(b["entry"]) for b in bundles)})
    assert_each_named_once(ehr)
    assert ehr.too_large == 3, "3 writes, 2, 1; the second patient goes by single requests from the start"
    learned = ChunkSizes(store.sync_state).learned("a")
    assert learned is not None and learned.max_entries == 1


def test_a_lost_answer_then_a_smaller_learned_size_keeps_one_provenance_per_resource(tmp_path: Path) -> None:
    """The first attempt's one transaction was written but its answer lost; meanwhile another worker learned
    that the target takes 8 entries. The retry's chunks split the first one, and its first chunk updates the
    Provenance the lost transaction wrote instead of adding a second one over the same resources."""
    store = new_store(tmp_path)
    bundles = enqueue_episodes(store, 1)
    ehr = FakeEhr("a", lose={1})
    target = target_for(ehr.base_url, "a")
    pusher = fake_pusher(store, target, ehr)
    assert pusher.run_once().retried == 1
    assert stored_types(ehr)["Provenance"] == 1
    ChunkSizes(store.sync_state).lower(target, 8, 9, 400)  # what another worker learned meanwhile
    ehr.max_transaction_entries = 8
    drain_until_settled(pusher, store, 10)
    assert store.outbox.counts() == {"sent": 1}
    assert ehr.too_large == 0
    assert stored_types(ehr) == {**expected_types(bundles), "Provenance": transactions_sent(ehr) - 1}
    assert_each_named_once(ehr)


def test_the_grid_of_a_smaller_size_only_splits_the_chunks_of_a_larger_one() -> None:
    block, n = 49, 200
    starts = {}
    for writes in (49, 25, 13, 7, 4, 2, 1):
        depth, pos, found = depth_for(block, writes), 0, []
        while pos < n:
            found.append(pos)
            end = cell_end(pos, block, depth)
            assert 0 < end - pos <= writes
            pos = end
        starts[writes] = set(found)
    sizes = list(starts)
    for coarse, fine in pairwise(sizes):
        assert starts[coarse] <= starts[fine], (coarse, fine)
    assert [smaller(49, w) for w in (50, 49, 35, 25, 14, 13, 8, 7, 2)] == [49, 25, 25, 13, 13, 7, 7, 4, 1]


def test_size_refusals_are_their_own_class_and_other_400s_stay_rejections() -> None:
    def outcome(text: str) -> dict[str, Any]:
        return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid",
                                                                "details": {"text": text}}]}

    medplum = classify(400, {}, outcome("Transaction requires strict isolation but has too many entries"), "tx")
    updates = classify(400, {}, outcome("Transaction contains more update operations than allowed"), "tx")
    hapi = classify(413, {}, outcome("HAPI-0528: Transaction Bundle Too large."), "tx")
    other = classify(400, {}, outcome("Missing required property"), "tx")
    assert all(isinstance(e, TooLargeError) for e in (medplum, updates, hapi))
    assert isinstance(other, RejectedError) and not isinstance(other, TooLargeError)


@pytest.mark.parametrize("limit, status", [(8, 400), (20, 413), (1, 400)])
def test_the_size_probe_finds_the_limit_and_deletes_what_it_wrote(limit: int, status: int) -> None:
    ehr = FakeEhr("a", max_transaction_entries=limit, too_large_status=status)
    probe = measure(ehr, "urn:etmi-fhir:smoke-test", "run1")
    assert (probe.limit, probe.refused, probe.status, probe.complete) == (limit, limit + 1, status, True)
    assert probe.deleted == len(probe.made) == limit and not ehr.current("Observation")


def test_the_size_probe_stops_at_its_cap_and_its_time() -> None:
    ehr = FakeEhr("a")
    probe = measure(ehr, "urn:etmi-fhir:smoke-test", "run2", cap=64)
    assert (probe.accepted, probe.refused, probe.limit, ehr.requests) == (64, None, None, 7 + 64)
    ticks = iter(range(0, 1000, 10))
    slow = FakeEhr("b", max_transaction_entries=40)
    probe = measure(slow, "urn:etmi-fhir:smoke-test", "run3", seconds=25, clock=lambda: next(ticks))
    assert not probe.complete and probe.limit is None and not slow.current("Observation")
