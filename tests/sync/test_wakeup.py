"""``service/store/wakeup.py`` on real databases: what wakes an idle worker's threads and what does not.

PostgreSQL: ``enqueue`` notifies on commit only (a rolled-back write sends nothing), and so does ``replay``.
SQLite: the watcher wakes for a commit that added outbox rows, not for other commits (an id-map or audit row), and
ends with its stop flag. A commit wakes one waiting thread, or the next thread to wait; ``close`` releases them all."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from service.store import Store
from service.store.db import transaction
from service.store.outbox import enqueue
from service.store.wakeup import CHANNEL, Wakeup, watch
from tests.sync.support import enqueue_resource, new_store

GOAL = {"resourceType": "Goal", "id": "g1"}


def test_one_wake_up_per_commit_kept_for_the_next_wait_and_close_releases_every_thread() -> None:
    wakeup = Wakeup()
    wakeup.wake()  # a commit seen while the only thread was still claiming
    assert wakeup.wait(30), "the next wait returns at once: the claim may have missed that row"
    assert not wakeup.wait(0.05), "that wake-up was taken"
    woken: list[bool] = []
    waiters = [threading.Thread(target=lambda: woken.append(wakeup.wait(30))) for _ in range(3)]
    for t in waiters:
        t.start()
    wakeup.wake()
    deadline = time.monotonic() + 10
    while not woken and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert woken == [True], "one commit wakes one waiting thread (its claim takes every due row)"
    wakeup.close()
    for t in waiters:
        t.join(10)
    assert woken == [True, True, True], "close (shutdown) ends the other waits long before their timeout"
    assert wakeup.wait(30), "and every later wait"


def test_sqlite_watcher_wakes_for_outbox_rows_only(tmp_path: Path) -> None:
    store, wakeup, stop = new_store(tmp_path), Wakeup(), threading.Event()
    watcher = watch(store.engine, wakeup, stop)
    assert watcher is not None
    try:
        enqueue_resource(store, dict(GOAL), "p1")
        assert wakeup.wait(30), "a committed outbox row wakes a thread"
        store.id_map.put("t", "Goal", "g1", "77")  # a commit that adds no outbox row
        assert not wakeup.wait(1.0), "ten checks later, the id-map commit has woken nobody"
        enqueue_resource(store, dict(GOAL), "p1")
        assert wakeup.wait(30), "the next outbox row does"
    finally:
        stop.set()
        watcher.join(10)
        store.close()
    assert not watcher.is_alive(), "the watcher ends with the stop flag"


@pytest.mark.postgres
def test_postgres_enqueue_notifies_on_commit_only(pg_store: Store) -> None:
    cargs, cparams = pg_store.engine.dialect.create_connect_args(pg_store.engine.url)
    with psycopg.connect(*cargs, **{**cparams, "autocommit": True}) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        with pytest.raises(RuntimeError), transaction(pg_store.sessions) as session:
            enqueue(session, patient_key="p1", resource_type="Goal", local_id="g1", operation="update",
                    resource=dict(GOAL))
            raise RuntimeError("the write fails after its outbox row: rolled back")
        enqueue_resource(pg_store, dict(GOAL), "p1")
        notes = list(listener.notifies(timeout=2))
    assert [n.channel for n in notes] == [CHANNEL], "one notification: the committed write's, none for the other"
    assert pg_store.outbox.counts() == {"pending": 1}


@pytest.mark.postgres
def test_postgres_replay_notifies(pg_store: Store) -> None:
    enqueue_resource(pg_store, dict(GOAL), "p1")
    [entry] = pg_store.outbox.claim(1, "w1", 60)
    pg_store.outbox.dead_letter(entry, {"resourceType": "OperationOutcome", "issue": []})
    cargs, cparams = pg_store.engine.dialect.create_connect_args(pg_store.engine.url)
    with psycopg.connect(*cargs, **{**cparams, "autocommit": True}) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        assert pg_store.outbox.replay([entry.id]) == 1
        notes = list(listener.notifies(timeout=10, stop_after=1))
    assert [n.channel for n in notes] == [CHANNEL], "a replayed row wakes the workers as a new one does"
