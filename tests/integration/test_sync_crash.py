"""Crash safety: kill -9 a worker in the middle of a send; another worker finishes the job.

The killed worker's entries stay leased until the lease runs out, then the second worker re-claims
them and sends again, and loses answers on the way. The conditional entries and the Provenance ids
make the re-sends idempotent: every resource exists once on the EHR, each chunk's Provenance once,
and nothing is left pending.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.store import Store
from tests.integration.test_sync_faults import assert_each_once
from tests.servers.faultproxy.proxy import Fault, FaultProxy
from tests.sync.support import (
    enqueue_bundle,
    episode_bundle,
    new_store,
    unique_episode,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def proxy(ehr_url: tuple[str, str]) -> Iterator[FaultProxy]:
    p = FaultProxy(ehr_url[1]).start()
    yield p
    p.stop()


def start_worker(tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    with (tmp_path / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker", "--targets", str(tmp_path / "targets.json"),
             "--database-url", f"sqlite:///{tmp_path / 'etmi.db'}", "--state", str(tmp_path / "state.json"),
             "--pull-every", "0", "--idle", "0.2", "--worker-id", name],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ETMI_AUTO_MIGRATE": "false"},
        )


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def settled(store: Store) -> bool:
    return not set(store.outbox.counts()) & {"pending", "failed", "in-flight"}


def test_kill_9_mid_send_then_another_worker_finishes(
    proxy: FaultProxy, ehr_url: tuple[str, str], tmp_path: Path,
) -> None:
    name, upstream = ehr_url
    store = new_store(tmp_path)
    payloads = [unique_episode(20 + i) for i in range(3)]
    for i, payload in enumerate(payloads):
        enqueue_bundle(store, episode_bundle(payload), f"patient-{i}")
    target = {"name": name, "base_url": proxy.url, "lease_seconds": 5, "backoff_base": 0.05, "backoff_cap": 0.5,
              "timeout": [2, 60], "max_entries": 8}  # several chunks (7 writes + 1 Provenance) per episode
    (tmp_path / "targets.json").write_text(json.dumps({"targets": [target]}))
    # the first worker dies while its first chunk is on the way; the second one loses two answers
    proxy.inject(Fault("delay", seconds=2.0, method="POST"), Fault("delay", seconds=0, method="POST"),
                 Fault("lose", method="POST"), Fault("delay", seconds=0, method="POST"), Fault("lose", method="POST"))

    first = start_worker(tmp_path, "w-killed")
    wait_for(lambda: any(s.fault == "delay" for s in proxy.seen), 60, "the first worker to start sending")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert store.outbox.counts().get("in-flight", 0) >= 1, "the killed worker still holds its lease"

    second = start_worker(tmp_path, "w-second")
    try:
        wait_for(lambda: settled(store), 240, "the second worker to finish")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0, (tmp_path / "w-second.log").read_text()[-2000:]
    assert store.outbox.counts() == {"sent": 3}
    attempts = sorted(e.attempts for e in (store.outbox.get(i) for i in (1, 2, 3)) if e is not None)
    assert attempts[-1] >= 2, f"the interrupted entry was claimed again: {attempts}"
    assert sum(1 for s in proxy.seen if s.fault == "lose") == 2
    for payload in payloads:
        entries = episode_bundle(payload)["entry"]
        expected = Counter(e["resource"]["resourceType"] for e in entries)
        assert assert_each_once(upstream, payload) == {**expected, "Provenance": -(-len(entries) // 7)}
