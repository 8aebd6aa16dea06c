"""An idle ``etmi-fhir worker`` wakes when an outbox row is committed, not when its ``--idle`` wait ends
(``service/store/wakeup.py``): on SQLite (``PRAGMA data_version``) and on PostgreSQL (LISTEN/NOTIFY, and again
after its listening connection was killed). The worker runs as its own process with ``--idle 30`` on an empty
outbox; a row committed once it is waiting must reach HAPI well before the 30 s wait would have ended (the bound
below is 20 s after the commit, so the assertion is about which mechanism ran, not about how fast). SIGTERM
still ends the waiting worker at once, exit 0."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from service.store import Store
from service.store.wakeup import APPLICATION_NAME
from tests.integration.test_sync_faults import found
from tests.integration.worker_process import log_tail, scrape, wait_for, worker
from tests.servers.fixtures import free_port
from tests.sync.support import enqueue_bundle, episode_bundle, episode_resources, first_of, new_store, unique_episode

pytestmark = [pytest.mark.hapi]
IDLE = 30.0  # the worker's --idle: without a wake-up, a row committed while it waits sits there this long
BOUND = 20.0  # seconds after the commit by which the row must be on HAPI (well before IDLE ran out)


def commit_and_wait(store: Store, hapi_url: str, tmp_path: Path, index: int) -> None:
    """Commit one episode's outbox row now; it must be sent, and its Goal on HAPI, within ``BOUND`` seconds."""
    payload = unique_episode(index)
    committed = time.monotonic()
    enqueue_bundle(store, episode_bundle(payload), f"p-{uuid.uuid4().hex[:8]}")
    sent = store.outbox.counts().get("sent", 0) + 1
    while store.outbox.counts().get("sent", 0) < sent:
        assert time.monotonic() - committed < BOUND, \
            f"a row committed {BOUND:.0f} s ago still waits: the worker sleeps out its --idle\n{log_tail(tmp_path)}"
        time.sleep(0.1)
    goal = first_of(episode_resources(payload), "Goal")
    assert len(found(hapi_url, goal)) == 1, "the episode's Goal is on HAPI"


def idle_worker_pushes_at_commit(store: Store, hapi_url: str, tmp_path: Path, *, after: Any = None) -> None:
    port = free_port()
    table = {f"hapi-{uuid.uuid4().hex[:6]}": {"base_url": hapi_url, "timeout": [10, 120]}}
    with worker(tmp_path, str(store.engine.url.render_as_string(hide_password=False)), table, port,
                ["--idle", str(IDLE), "--threads", "2"]) as proc:
        wait_for("the worker's metrics endpoint", lambda: bool(scrape(port)), timeout=60)
        time.sleep(2)  # its threads have claimed nothing and wait (a row committed before would prove nothing)
        commit_and_wait(store, hapi_url, tmp_path, 0)
        if after is not None:
            after(store)
            commit_and_wait(store, hapi_url, tmp_path, 1)
        assert proc.poll() is None, log_tail(tmp_path)
        stopping = time.monotonic()
        proc.terminate()
        assert proc.wait(BOUND) == 0, log_tail(tmp_path)
        assert time.monotonic() - stopping < BOUND, "SIGTERM ended the waiting worker before its --idle ran out"


def test_sqlite_idle_worker_wakes_on_a_committed_row(hapi_url: str, tmp_path: Path) -> None:
    store = new_store(tmp_path)
    try:
        idle_worker_pushes_at_commit(store, hapi_url, tmp_path)
    finally:
        store.close()


def listeners(store: Store) -> set[int]:
    """Backend pids of the worker's LISTEN connections on this test's database (a new snapshot each call)."""
    with store.engine.connect() as conn:
        return set(conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name "
                                     "AND datname = current_database()"), {"name": APPLICATION_NAME}))


def kill_listener(store: Store) -> None:
    """End the worker's LISTEN connection (as a server restart or a network cut would) and wait until it is back."""
    old = listeners(store)
    assert old, "the worker listens on a connection of its own"
    with store.engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"),
                     {"pids": sorted(old)})
    wait_for("the worker listening again", lambda: bool(listeners(store) - old), timeout=30)
    time.sleep(1)  # the wake-up of the reconnection itself has passed; the next row needs a notification


@pytest.mark.postgres
def test_postgres_idle_worker_wakes_on_notify_and_after_reconnecting(pg_store: Store, hapi_url: str,
                                                                      tmp_path: Path) -> None:
    idle_worker_pushes_at_commit(pg_store, hapi_url, tmp_path, after=kill_listener)
