"""The outbox repository the sync workers use, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from service.store import Store
from service.store.db import transaction, utcnow
from service.store.outbox import enqueue


def _add(store: Store, patient: str, local_id: str) -> None:
    with transaction(store.sessions) as session:
        enqueue(session, patient_key=patient, resource_type="Goal", local_id=local_id, operation="create",
                resource={"resourceType": "Goal", "id": local_id})


def test_claim_leases_oldest_first_and_one_per_patient_in_order(store: Store) -> None:
    _add(store, "p1", "g1")
    _add(store, "p1", "g2")
    _add(store, "p2", "g3")
    first = store.outbox.claim(10, "w1", 60)
    assert [(e.local_id, e.attempts, e.status, e.worker_id) for e in first] == [
        ("g1", 1, "in-flight", "w1"), ("g3", 1, "in-flight", "w1")]
    assert store.outbox.claim(10, "w2", 60) == []
    assert store.outbox.mark_sent(first[0], {"Goal/g1": "Goal/77/_history/1"})
    nxt = store.outbox.claim(10, "w2", 60)
    assert [e.local_id for e in nxt] == ["g2"]
    assert store.id_map.get("default", "Goal", "g1") == ("77", "1")
    assert store.id_map.local_id("default", "Goal", "77") == "g1"


def test_failed_entry_waits_for_retry_and_blocks_younger_entries(store: Store) -> None:
    _add(store, "p1", "g1")
    _add(store, "p1", "g2")
    [entry] = store.outbox.claim(10, "w1", 60)
    assert store.outbox.mark_failed(entry, "503 from EHR", utcnow() + timedelta(hours=1))
    assert store.outbox.claim(10, "w1", 60) == []
    assert store.outbox.counts() == {"failed": 1, "pending": 1}


def test_dead_letter_unblocks_and_replay_requeues(store: Store) -> None:
    _add(store, "p1", "g1")
    _add(store, "p1", "g2")
    [entry] = store.outbox.claim(10, "w1", 60)
    outcome = {"resourceType": "OperationOutcome", "issue": []}
    assert store.outbox.dead_letter(entry, outcome)
    [second] = store.outbox.claim(10, "w1", 60)
    assert second.local_id == "g2"
    assert store.outbox.replay([entry.id]) == 1
    assert store.outbox.get(entry.id) is not None
    assert store.outbox.get(entry.id).status == "pending"  # type: ignore[union-attr]


def test_expired_lease_is_claimed_again_and_stale_worker_cannot_finish(store: Store) -> None:
    _add(store, "p1", "g1")
    [stale] = store.outbox.claim(1, "w1", -1)
    [fresh] = store.outbox.claim(1, "w2", 60)
    assert fresh.id == stale.id and fresh.attempts == 2
    assert not store.outbox.mark_sent(stale, {})
    assert store.outbox.mark_sent(fresh, {})
    assert store.outbox.counts() == {"sent": 1}


def test_concurrent_workers_never_claim_the_same_entry(store: Store) -> None:
    for n in range(40):
        _add(store, f"p{n}", f"g{n}")

    def work(worker: str) -> list[int]:
        claimed: list[int] = []
        while batch := store.outbox.claim(3, worker, 60):
            claimed += [e.id for e in batch]
        return claimed

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, ["w1", "w2", "w3", "w4"]))
    every = [i for r in results for i in r]
    assert len(every) == len(set(every)) == 40
