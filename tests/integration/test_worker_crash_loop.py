"""A worker in a crash loop: ``etmi-fhir worker`` as its own process, pushing to HAPI, whose database
becomes unreadable (its outbox table renamed away under it). Each failed round restarts the push loop
after a backed-off pause, counted in ``etmi_worker_restarts_total`` read over HTTP from ``--metrics-port``;
after ``--max-restarts`` restarts within ``--restart-window`` the worker exits 70 so its supervisor sees
it. A database that comes back before then is used again: the next entry is sent and SIGTERM exits 0."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy import text

from service.commands.worker import CRASH_LOOP_EXIT, Restarts
from service.store import Store
from service.sync.retry import Backoff
from tests.integration.worker_process import log_tail, scrape, wait_for, worker
from tests.servers.fixtures import free_port
from tests.sync.support import enqueue_bundle, episode_bundle, new_store, unique_episode

RESTARTS = ("etmi_worker_restarts_total", (("loop", "push"),))


def rename(store: Store, old: str, new: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def sent(store: Store, n: int) -> Callable[[], bool]:
    return lambda: store.outbox.counts().get("sent", 0) >= n


def start(tmp_path: Path, store: Store, hapi_url: str, port: int,
          max_restarts: int) -> AbstractContextManager[subprocess.Popen[bytes]]:
    name = f"hapi-{uuid.uuid4().hex[:6]}"
    enqueue_bundle(store, episode_bundle(unique_episode(60)), f"p-{uuid.uuid4().hex[:6]}")
    table = {name: {"base_url": hapi_url, "timeout": [5, 120]}}
    return worker(tmp_path, str(store.engine.url), table, port,
                  ["--max-restarts", str(max_restarts), "--restart-window", "120"])


@pytest.mark.hapi
def test_unreadable_database_restarts_backed_off_then_exits_70(hapi_url: str, tmp_path: Path) -> None:
    store, port = new_store(tmp_path), free_port()
    with start(tmp_path, store, hapi_url, port, max_restarts=3) as proc:
        wait_for("the first entry sent", sent(store, 1))
        assert scrape(port)[RESTARTS] == 0
        rename(store, "outbox", "outbox_unreadable")
        seen: list[float] = []
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            value = scrape(port).get(RESTARTS)
            if value is not None and (not seen or value != seen[-1]):
                seen.append(value)
            time.sleep(0.1)
        assert proc.wait(10) == CRASH_LOOP_EXIT, log_tail(tmp_path)
    assert seen == [0, 1, 2, 3], seen  # every restart visible, each after its own pause
    log = log_tail(tmp_path, 200_000)
    assert log.count("sync.worker.restart") == 3 and "sync.worker.crash_loop" in log
    rename(store, "outbox_unreadable", "outbox")
    store.close()


@pytest.mark.hapi
def test_database_back_before_the_limit_is_used_again(hapi_url: str, tmp_path: Path) -> None:
    store, port = new_store(tmp_path), free_port()
    with start(tmp_path, store, hapi_url, port, max_restarts=5) as proc:
        wait_for("the first entry sent", sent(store, 1))
        rename(store, "outbox", "outbox_unreadable")
        wait_for("a restart counted", lambda: (scrape(port).get(RESTARTS) or 0) >= 1)
        rename(store, "outbox_unreadable", "outbox")
        enqueue_bundle(store, episode_bundle(unique_episode(61)), f"p-{uuid.uuid4().hex[:6]}")
        wait_for("the next entry sent", sent(store, 2))
        restarts = scrape(port)[RESTARTS]
        assert 1 <= restarts <= 5 and proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log_tail(tmp_path)
    store.close()


def test_restarts_back_off_and_give_up_past_the_limit_in_the_window() -> None:
    restarts = Restarts(limit=3, window=60, backoff=Backoff(base=1.0, cap=60.0, rand=lambda: 1.0))
    assert [restarts.failed() for _ in range(3)] == [1.0, 2.0, 4.0]
    assert restarts.failed() is None and restarts.exhausted.is_set()
    old = Restarts(limit=1, window=60)
    old.times.append(time.monotonic() - 61)  # outside the window: forgotten
    assert old.failed() is not None and not old.exhausted.is_set()
