"""The metrics after a real push with a failure and a dead letter: ``etmi-fhir worker --metrics-port``
runs as its own process against HAPI through the fault proxy (one injected 503, one Bundle HAPI refuses,
one pull answered 500), and both its ``/metrics`` and the web app's (another process view of the same
database) show the pending entries and their age before, then the retry, the dead letter, the sent entry,
the push-round and pull latency histograms, and no restart (a failure is not a crash)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from tests.servers.faultproxy.proxy import Fault, FaultProxy
from tests.servers.fixtures import free_port
from tests.service.conftest import make_settings
from tests.sync.support import enqueue_bundle, episode_bundle, new_store, unique_episode

pytestmark = pytest.mark.hapi
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def proxy(hapi_url: str) -> Iterator[FaultProxy]:
    p = FaultProxy(hapi_url).start()
    yield p
    p.stop()


def refused_bundle() -> dict[str, object]:
    """A transaction HAPI refuses with a 4xx (an unknown gender code): a dead letter, never a retry."""
    patient = {"resourceType": "Patient", "id": f"bad-{uuid.uuid4().hex[:8]}", "gender": "not-a-gender"}
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": patient,
                       "request": {"method": "POST", "url": "Patient"}}]}


def worker(tmp_path: Path, database: str, proxy: FaultProxy, name: str, port: int,
           log: IO[bytes]) -> subprocess.Popen[bytes]:
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"targets": {name: {"base_url": proxy.url, "backoff_base": 0.2,
                                                      "backoff_cap": 0.5, "max_attempts": 5}}}))
    command = [sys.executable, "-m", "service.cli", "worker", "--targets", str(targets), "--database-url", database,
               "--pull-every", "1", "--idle", "0.2", "--metrics-port", str(port)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log,
                            env={**os.environ, "ETMI_SYNC_TARGETS": ""})


def scrape_until_settled(port: int, name: str, timeout: float = 120) -> Samples:
    deadline, samples = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        try:
            samples = parse(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
        except requests.ConnectionError:
            samples = {}
        done = {status: samples.get(("etmi_outbox_entries", (("status", status), ("target", name))))
                for status in ("sent", "dead")}
        pulls = [samples.get(("etmi_sync_pull_seconds_count", (("result", r),))) for r in ("ok", "error")]
        if (done == {"sent": 1, "dead": 1} and samples.get(("etmi_sync_push_entries_total", (("result", "sent"),)))
                and all(pulls)):
            return samples
        time.sleep(0.5)
    raise AssertionError(f"the outbox did not settle: {samples}")


def app_metrics(database: str) -> Samples:
    app = create_app(make_settings(database))
    try:
        return parse(app.test_client().get("/metrics").get_data(as_text=True))
    finally:
        app.extensions["etmi"].store.close()


def test_worker_and_app_metrics_after_a_retry_and_a_dead_letter(proxy: FaultProxy, tmp_path: Path) -> None:
    store = new_store(tmp_path)
    name = f"hapi-{uuid.uuid4().hex[:6]}"
    enqueue_bundle(store, episode_bundle(unique_episode(31)), "p1", targets=[name])
    enqueue_bundle(store, refused_bundle(), "p2", local_id="refused", targets=[name])
    proxy.inject(Fault("status", status=503, retry_after="1", method="POST"))  # the first POST, whichever
    proxy.inject(Fault("status", status=500, method="GET", path=r"/Goal\?"))  # the first pull fails
    for resource_type in ("Goal", "CarePlan"):  # pull only what changes from now on (the shared HAPI is large)
        store.sync_state.set_cursor(f"pull:{name}:{resource_type}", datetime.now(UTC).isoformat())
    database = str(store.engine.url)
    before = app_metrics(database)
    assert before[("etmi_outbox_entries", (("status", "pending"), ("target", name)))] == 2
    assert before[("etmi_outbox_oldest_pending_age_seconds", (("target", name),))] > 0
    assert before[("etmi_outbox_dead_letters", (("target", name),))] == 0
    port = free_port()
    with (tmp_path / "worker.log").open("wb") as log:
        proc = worker(tmp_path, database, proxy, name, port, log)
        try:
            s = scrape_until_settled(port, name)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, (tmp_path / "worker.log").read_text()[-2000:]
    assert s[("etmi_outbox_dead_letters", (("target", name),))] == 1
    assert sum(v for (n, _), v in s.items() if n == "etmi_outbox_retries") >= 1
    assert s[("etmi_outbox_oldest_pending_age_seconds", (("target", name),))] == 0
    assert s[("etmi_sync_push_entries_total", (("result", "retried"),))] >= 1
    assert s[("etmi_sync_push_entries_total", (("result", "dead"),))] == 1
    assert s[("etmi_sync_push_round_seconds_count", ())] >= 2
    rounds = s[("etmi_sync_push_round_seconds_count", ())]
    assert s[("etmi_sync_push_round_seconds_bucket", (("le", "+Inf"),))] == rounds
    assert s[("etmi_sync_push_round_seconds_sum", ())] > 0
    assert s[("etmi_sync_pull_seconds_count", (("result", "error"),))] == 1
    assert s[("etmi_sync_pull_seconds_count", (("result", "ok"),))] >= 1
    assert s[("etmi_worker_restarts_total", (("loop", "push"),))] == 0
    assert s[("etmi_worker_restarts_total", (("loop", "pull"),))] == 0
    assert s[("etmi_database_up", ())] == 1

    seen = app_metrics(database)  # a web process reads the same numbers from the database
    for key in [k for k in s if k[0] in ("etmi_outbox_entries", "etmi_outbox_retries", "etmi_outbox_dead_letters")]:
        assert seen[key] == s[key], key
    store.close()
