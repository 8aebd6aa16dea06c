"""The outbox repository the sync workers use, its per-target rows and its migration, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask.testing import FlaskClient
from sqlalchemy import Column, MetaData, Table, insert

from service.app import create_app
from service.store import Store
from service.store.db import alembic_config, transaction, utcnow
from service.store.models import Base, OutboxRow
from service.store.outbox import enqueue
from tests.service.conftest import make_settings


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


def test_renew_extends_the_lease_of_its_own_claim_only(store: Store) -> None:
    _add(store, "p1", "g1")
    [entry] = store.outbox.claim(10, "w1", 0)  # a lease that has already run out
    assert store.outbox.renew([entry], 60)
    assert store.outbox.claim(10, "w2", 60) == [], "renewed: nobody else may take it"
    assert store.outbox.renew([entry], 0)  # w1's lease lapses again ...
    [taken] = store.outbox.claim(10, "w2", 60)  # ... and w2 takes the entry over
    assert taken.worker_id == "w2"
    assert not store.outbox.renew([entry], 60), "w1 no longer holds it"
    assert store.outbox.mark_sent(taken, {})


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


def _add_for(store: Store, patient: str, local_id: str, *targets: str) -> None:
    with transaction(store.sessions) as session:
        enqueue(session, patient_key=patient, resource_type="Goal", local_id=local_id, operation="create",
                resource={"resourceType": "Goal", "id": local_id}, targets=targets)


def _claimed(store: Store) -> list[tuple[str | None, str]]:
    return [(e.target, e.local_id) for e in store.outbox.claim(10, "w", 60)]


def test_claim_is_fifo_per_patient_and_target(store: Store) -> None:
    _add_for(store, "p1", "g1", "a", "b")
    _add_for(store, "p1", "g2", "a", "b")
    first = store.outbox.claim(10, "w1", 60)
    assert [(e.target, e.local_id) for e in first] == [("a", "g1"), ("b", "g1")]
    a1, b1 = first
    assert store.outbox.mark_failed(a1, "503 from a", utcnow() + timedelta(hours=1))
    assert store.outbox.mark_sent(b1, {"Goal/g1": "Goal/9/_history/1"})
    assert _claimed(store) == [("b", "g2")], "a's failure holds back a's entries only"
    assert store.id_map.get("b", "Goal", "g1") == ("9", "1"), "mark_sent records for the entry's target"
    assert store.id_map.get("a", "Goal", "g1") is None
    assert store.outbox.counts_by_target() == {"a": {"failed": 1, "pending": 1}, "b": {"sent": 1, "in-flight": 1}}


def test_a_row_without_target_orders_with_every_target_of_its_patient(store: Store) -> None:
    _add_for(store, "p1", "g1", "a")
    _add_for(store, "p1", "g2")
    _add_for(store, "p1", "g3", "b")
    _add_for(store, "p2", "g4", "b")
    [a1, b4] = store.outbox.claim(10, "w", 60)
    assert [(a1.target, a1.local_id), (b4.target, b4.local_id)] == [("a", "g1"), ("b", "g4")]
    assert _claimed(store) == [], "the row for every target waits for a's older row; b's younger row waits for it"
    assert store.outbox.mark_sent(a1, {})
    [every] = store.outbox.claim(10, "w", 60)
    assert (every.target, every.local_id) == (None, "g2")
    assert store.outbox.dead_letter(every, {"resourceType": "OperationOutcome", "issue": []})
    assert _claimed(store) == [("b", "g3")]


def test_enqueue_fans_out_in_the_callers_transaction(store: Store) -> None:
    try:
        with transaction(store.sessions) as session:
            assert len(enqueue(session, patient_key="p1", resource_type="Goal", local_id="g1", operation="create",
                               resource={"resourceType": "Goal"}, targets=["a", "b"])) == 2
            raise RuntimeError("the data write failed")
    except RuntimeError:
        pass
    assert store.outbox.counts() == {}, "no outbox row outlives its rolled-back data"


def test_the_writer_enqueues_one_row_per_configured_target(database_url: str, episode: dict[str, Any]) -> None:
    targets = {"targets": {"a": {"base_url": "http://a.invalid/fhir"}, "b": {"base_url": "http://b.invalid/fhir"}}}
    app = create_app(make_settings(database_url, sync_targets=json.dumps(targets)))
    client = app.test_client()
    try:
        created = client.post("/api/v1/episodes", json=episode).get_json()
        assert len(created["outbox_ids"]) == 2 and created["outbox_id"] == created["outbox_ids"][0]
        listed = client.get("/api/v1/outbox?status=pending").get_json()
        assert listed["by_target"] == {"a": {"pending": 1}, "b": {"pending": 1}}
        assert sorted(e["target"] for e in listed["entries"]) == ["a", "b"]
        only_b = client.get("/api/v1/outbox?status=pending&target=b").get_json()["entries"]
        assert [e["target"] for e in only_b] == ["b"]
        outbox = app.extensions["etmi"].store.outbox
        bundles = [outbox.get(i).resource for i in created["outbox_ids"]]
        assert bundles[0] == bundles[1] and bundles[0]["type"] == "transaction"
    finally:
        app.extensions["etmi"].store.close()


def test_without_targets_the_writer_enqueues_one_row_for_every_target(client: FlaskClient,
                                                                      episode: dict[str, Any]) -> None:
    created = client.post("/api/v1/episodes", json=episode).get_json()
    assert len(created["outbox_ids"]) == 1
    assert client.get("/api/v1/outbox?status=pending").get_json()["by_target"] == {"*": {"pending": 1}}


def test_migration_0003_keeps_older_rows_for_every_target_and_matches_the_models(store: Store) -> None:
    config = alembic_config(store.engine)
    command.downgrade(config, "0002")
    now = utcnow()
    columns = [c for c in OutboxRow.__table__.columns if c.name not in ("id", "target")]
    old_outbox = Table("outbox", MetaData(), *[Column(c.name, c.type) for c in columns])
    with store.engine.begin() as conn:
        conn.execute(insert(old_outbox).values(
            patient_key="p1", resource_type="Goal", local_id="g1", operation="create",
            resource={"resourceType": "Goal"}, status="pending", attempts=0, next_attempt_at=now, created_at=now,
            updated_at=now))
    command.upgrade(config, "head")
    assert store.migrations_current()
    [entry] = store.outbox.claim(10, "w", 60)
    assert (entry.target, entry.local_id) == (None, "g1")
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
