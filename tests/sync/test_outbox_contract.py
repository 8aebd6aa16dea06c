"""The outbox contract the sync engine relies on, pinned on the real SQLite store (the survivors of the
mutation run of service/store/outbox.py, docs/mutation-testing.md): what ``replay``, ``mark_failed``,
``get``/``list``, the per-target labels and the id map keep and forget."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.store import Store
from service.store.db import utcnow
from service.store.models import OutboxRow
from service.store.outbox import OutboxEntry, OutboxRepository, by_target_label, naive_utc
from tests.sync.support import enqueue_resource, new_store


def goal(local_id: str) -> dict[str, Any]:
    return {"resourceType": "Goal", "id": local_id, "identifier": [{"system": "urn:x", "value": local_id}]}


def seeded(tmp_path: Path, n: int = 3, targets: tuple[str, ...] = ()) -> Store:
    store = new_store(tmp_path)
    for i in range(n):
        enqueue_resource(store, goal(f"g{i}"), f"p{i}", targets=targets)
    return store


def updated_at(store: Store, entry_id: int) -> datetime:
    with store.sessions() as session:
        return session.scalars(select(OutboxRow.updated_at).where(OutboxRow.id == entry_id)).one()


def claim_all(store: Store) -> list[OutboxEntry]:
    return list(store.outbox.claim(10, "w1", 60))


def test_replay_requeues_failed_and_dead_entries_now_with_a_fresh_start(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    failed, dead, sent = claim_all(store)
    later = utcnow() + timedelta(hours=1)
    assert store.outbox.mark_failed(failed, "HTTP 503", later)
    assert store.outbox.dead_letter(dead, {"resourceType": "OperationOutcome", "issue": []})
    assert store.outbox.mark_sent(sent, {})
    stamp = updated_at(store, 1)
    time.sleep(0.01)
    assert store.outbox.replay([1, 2, 3, 99]) == 2, "only failed and dead entries (and only existing ones)"
    assert store.outbox.replay([]) == 0
    for entry_id in (1, 2):
        entry = store.outbox.get(entry_id)
        assert entry is not None
        assert (entry.status, entry.attempts, entry.outcome, entry.worker_id, entry.lease_until) == \
            ("pending", 0, None, None, None)
        assert entry.next_attempt_at <= utcnow(), "due now, not at the old retry time"
    assert updated_at(store, 1) > stamp
    again = store.outbox.get(3)
    assert again is not None and again.status == "sent"
    assert [e.id for e in store.outbox.claim(10, "w2", 60)] == [1, 2], "replayed entries are claimable at once"


def test_replay_of_a_failed_entry_alone(tmp_path: Path) -> None:
    store = seeded(tmp_path, 1)
    [entry] = claim_all(store)
    store.outbox.mark_failed(entry, "HTTP 503", utcnow() + timedelta(hours=1))
    assert store.outbox.replay([1]) == 1
    replayed = store.outbox.get(1)
    assert replayed is not None and replayed.status == "pending"


def test_a_lease_is_cleared_by_replay(tmp_path: Path) -> None:
    store = seeded(tmp_path, 1)
    [entry] = claim_all(store)
    store.outbox.dead_letter(entry, {"resourceType": "OperationOutcome", "issue": []})
    with store.sessions() as session, session.begin():  # a row left with a stale claim by an old version
        row = session.get(OutboxRow, 1)
        assert row is not None
        row.claimed_by, row.lease_until = "w-old", utcnow()
    store.outbox.replay([1])
    replayed = store.outbox.get(1)
    assert replayed is not None and (replayed.worker_id, replayed.lease_until) == (None, None)


def test_mark_failed_keeps_2000_characters_of_the_error(tmp_path: Path) -> None:
    store = seeded(tmp_path, 1)
    [entry] = claim_all(store)
    store.outbox.mark_failed(entry, "x" * 3000, utcnow())
    failed = store.outbox.get(1)
    assert failed is not None and failed.last_error == "x" * 2000


def test_get_and_list(tmp_path: Path) -> None:
    store = seeded(tmp_path, 4)
    assert store.outbox.get(99) is None
    assert [e.id for e in store.outbox.list("pending")] == [1, 2, 3, 4]
    assert [e.id for e in store.outbox.list("pending", limit=2)] == [1, 2]
    assert store.outbox.list("dead") == []


def test_target_labels_put_the_rows_for_every_target_first() -> None:
    counts: dict[str | None, dict[str, int]] = {"b": {"sent": 1}, None: {"pending": 2}, "B": {"dead": 1}}
    assert list(by_target_label(counts)) == ["*", "B", "b"]
    assert by_target_label(counts)["*"] == {"pending": 2}


def test_mark_sent_records_remote_ids_with_and_without_versions(tmp_path: Path) -> None:
    store = seeded(tmp_path, 1, targets=("a",))
    [entry] = claim_all(store)
    assert store.outbox.mark_sent(entry, {"Goal/g0": "Goal/r1/_history/7", "Goal/g1": "Goal/r2",
                                          "Goal/g2": "r3", "Goal/g3": "Goal/r4/x/5", "Goal/g4": "Goal/r5/_history"})
    assert store.id_map.get("a", "Goal", "g0") == ("r1", "7")
    assert store.id_map.get("a", "Goal", "g1") == ("r2", None)
    assert store.id_map.get("a", "Goal", "g2") == ("r3", None), "a bare remote id is kept as it is"
    assert store.id_map.get("a", "Goal", "g3") == ("r4", None), "only _history/<v> is a version"
    assert store.id_map.get("a", "Goal", "g4") == ("r5", None)
    assert store.id_map.get("b", "Goal", "g0") is None


def test_id_map_versions_and_reverse_lookup_per_target_and_type(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    ids = store.id_map
    ids.put("a", "Goal", "g1", "r1", "7")
    ids.put("a", "Goal", "g2", "r2")
    ids.put("b", "Goal", "g3", "r1", "1")
    ids.put("a", "CarePlan", "c1", "r9")
    ids.put("a", "CarePlan", "g1", "r8")  # the same local id under another type is another resource
    assert ids.get("a", "Goal", "g1") == ("r1", "7") and ids.get("a", "CarePlan", "g1") == ("r8", None)
    assert ids.get("a", "Goal", "g1") == ("r1", "7") and ids.get("a", "Goal", "g2") == ("r2", None)
    assert ids.local_id("a", "Goal", "r1") == "g1" and ids.local_id("b", "Goal", "r1") == "g3"
    assert ids.local_id("a", "CarePlan", "r9") == "c1" and ids.local_id("a", "Goal", "r9") is None
    assert ids.local_id("a", "CarePlan", "r1") is None
    ids.put("a", "Goal", "g1", "r1", None)  # a later write whose version is unknown
    assert ids.get("a", "Goal", "g1") == ("r1", None)


class Clock:
    def __init__(self) -> None:
        self.moment = utcnow()

    def __call__(self) -> datetime:
        return self.moment


def manual(tmp_path: Path, rows: int = 2, patient: str = "p") -> tuple[Store, OutboxRepository, Clock]:
    store = new_store(tmp_path)
    for i in range(rows):
        enqueue_resource(store, goal(f"g{i}"), patient)
    clock = Clock()
    clock.moment += timedelta(seconds=1)  # the rows are due
    return store, OutboxRepository(store.sessions, clock), clock


def test_claim_honours_the_batch_size_and_returns_the_row(tmp_path: Path) -> None:
    store = seeded(tmp_path, 3)
    claimed = store.outbox.claim(2, "w1", 60)
    assert [e.id for e in claimed] == [1, 2]
    assert (claimed[0].resource_type, claimed[0].local_id, claimed[0].worker_id) == ("Goal", "g0", "w1")
    assert claimed[0].created_at <= utcnow() and claimed[0].next_attempt_at == claimed[0].created_at


def test_a_lease_ends_exactly_at_lease_until(tmp_path: Path) -> None:
    _store, outbox, clock = manual(tmp_path)
    assert [e.id for e in outbox.claim(1, "w1", 60)] == [1]
    clock.moment += timedelta(seconds=60)  # lease_until == now: still held, and it holds back row 2
    assert outbox.claim(10, "w2", 60) == []
    clock.moment += timedelta(microseconds=1)  # expired: row 1 is claimable again, and row 2 with it
    assert [e.id for e in outbox.claim(10, "w2", 60)] == [1, 2]


def test_a_retry_is_due_exactly_at_its_time(tmp_path: Path) -> None:
    _store, outbox, clock = manual(tmp_path, 1)
    [entry] = outbox.claim(1, "w1", 60)
    assert outbox.mark_failed(entry, "HTTP 503", clock.moment + timedelta(seconds=30))
    clock.moment += timedelta(seconds=30)
    assert [e.id for e in outbox.claim(1, "w1", 60)] == [1]


def test_a_finished_row_with_stale_lease_data_holds_nothing_back(tmp_path: Path) -> None:
    store, outbox, clock = manual(tmp_path)
    [first] = outbox.claim(1, "w1", 60)
    outbox.dead_letter(first, {"resourceType": "OperationOutcome", "issue": []})
    with store.sessions() as session, session.begin():  # a dead row that still carries a future lease
        row = session.get(OutboxRow, 1)
        assert row is not None
        row.lease_until = clock.moment + timedelta(hours=1)
    [second] = outbox.claim(10, "w1", 60)
    assert second.id == 2
    outbox.mark_sent(second, {})
    with store.sessions() as session, session.begin():  # finished rows with an expired lease
        for row_id in (1, 2):
            row = session.get(OutboxRow, row_id)
            assert row is not None
            row.lease_until = clock.moment - timedelta(hours=1)
    assert outbox.claim(10, "w1", 60) == [], "an expired lease makes only an in-flight row claimable again"


def test_finishing_a_claim_clears_it_and_stamps_the_row(tmp_path: Path) -> None:
    store, outbox, clock = manual(tmp_path, 1)
    [entry] = outbox.claim(1, "w1", 60)
    stamp = updated_at(store, 1)
    clock.moment += timedelta(seconds=5)
    assert outbox.mark_failed(entry, "HTTP 503", clock.moment)
    failed = outbox.get(1)
    assert failed is not None and (failed.worker_id, failed.lease_until) == (None, None)
    assert updated_at(store, 1) == stamp + timedelta(seconds=5)
    [again] = outbox.claim(1, "w1", 60)
    assert outbox.mark_sent(again, {})
    sent = outbox.get(1)
    assert sent is not None and sent.last_error is None, "a sent entry carries no old error"
    assert not outbox.mark_sent(again, {}), "a claim ends once"


def test_renew_extends_the_lease_from_now(tmp_path: Path) -> None:
    store, outbox, clock = manual(tmp_path, 1)
    assert outbox.renew([], 60), "nothing to renew is no lost lease"
    [entry] = outbox.claim(1, "w1", 60)
    clock.moment += timedelta(seconds=40)
    assert outbox.renew([entry], 60)
    renewed = outbox.get(1)
    assert renewed is not None and renewed.lease_until == clock.moment + timedelta(seconds=60)
    assert updated_at(store, 1) == clock.moment


def test_naive_utc_converts_aware_times_and_keeps_naive_utc_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # a local zone far from UTC: local time must not leak in
    time.tzset()
    try:
        aware = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=14)))
        assert naive_utc(aware) == datetime(2025, 12, 31, 22, 0)
        assert naive_utc(datetime(2026, 1, 1, 12, 0, tzinfo=UTC)) == datetime(2026, 1, 1, 12, 0)
        assert naive_utc(datetime(2026, 1, 1, 12, 0)) == datetime(2026, 1, 1, 12, 0)
    finally:
        monkeypatch.undo()
        time.tzset()
