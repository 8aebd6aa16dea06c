"""``etmi-fhir worker`` with default settings pushes with several threads (a target's default ``concurrency``)
and still sends each outbox entry once and each patient's writes in the order they were stored: 12 patients,
each an episode then two edits of its Goal, on a SQLite outbox, to the shared HAPI. A claim of three rows
(``batch_size = 3``, so every thread gets work) holds at most one row per patient: the edits go out in later
claims, possibly by other threads, and the Goal's version history on HAPI must show them in order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from service.sync.targets import Target
from tests.integration.test_sync_faults import found
from tests.sync.support import (
    assert_goal_edits_in_order,
    enqueue_episodes_with_goal_edits,
    episode_resources,
    new_store,
    unique_episode,
)

pytestmark = [pytest.mark.hapi, pytest.mark.slow]
PATIENTS, EDITS = 12, 2


def test_default_worker_pushes_with_several_threads_in_order_and_once(hapi_url: str, tmp_path: Path) -> None:
    store = new_store(tmp_path)
    payloads = [unique_episode(70 + i) for i in range(PATIENTS)]
    goals = enqueue_episodes_with_goal_edits(store, payloads, EDITS)
    name = f"hapi-{uuid.uuid4().hex[:6]}"
    (tmp_path / "targets.json").write_text(json.dumps(
        {"targets": {name: {"base_url": hapi_url, "timeout": [10, 120], "batch_size": 3, "backoff_base": 0.2,
                            "backoff_cap": 1}}}))
    command = [sys.executable, "-m", "service.cli", "worker", "--targets", str(tmp_path / "targets.json"),
               "--database-url", str(store.engine.url), "--state", str(tmp_path / "state.json"),
               "--exit-when-idle", "--pull-every", "0"]
    done = subprocess.run(command, capture_output=True, timeout=600, env={**os.environ, "ETMI_SYNC_TARGETS": ""})
    log = [json.loads(line) for line in done.stderr.decode().splitlines() if line.startswith("{")]
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    started = next(r for r in log if r.get("msg") == "sync.worker.started")
    assert started["threads"] == Target(name, hapi_url).concurrency == 4
    rounds = [r for r in log if r.get("event") == "push_round"]
    assert len({r["worker"] for r in rounds}) >= 2, "the default worker pushed from several threads"
    total = PATIENTS * (1 + EDITS)
    assert store.outbox.counts() == {"sent": total}
    assert sum(r["claimed"] for r in rounds) == total, "each entry claimed once"
    for i, payload in enumerate(payloads):
        for resource in episode_resources(payload):
            assert len(found(hapi_url, resource)) == 1, f"patient {i}: {resource['resourceType']} once on HAPI"
    assert_goal_edits_in_order(store, name, hapi_url, goals, EDITS)
    store.close()
