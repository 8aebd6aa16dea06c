"""``/metrics``: outbox series read from the database at scrape time, per-route request metrics
labelled by the route rule, loopback-only access, and database errors answered 503 (not 500)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import exc as sa_exc

from service.store import Store
from service.store.db import transaction, utcnow
from service.store.outbox import enqueue
from tests.servers.fixtures import free_port
from tests.service.conftest import outcome_of

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return parse_samples(response.get_data(as_text=True))


def parse_samples(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _add(store: Store, patient: str, local_id: str, target: str, age_s: float = 0.0) -> None:
    with transaction(store.sessions) as session:
        enqueue(session, patient_key=patient, resource_type="Goal", local_id=local_id, operation="create",
                resource={"resourceType": "Goal", "id": local_id}, targets=[target],
                now=utcnow() - timedelta(seconds=age_s))


def test_outbox_series_after_a_retry_and_a_dead_letter(app: Flask, client: FlaskClient) -> None:
    store: Store = app.extensions["etmi"].store
    ehr = f"ehr-{uuid.uuid4().hex[:6]}"
    _add(store, "p1", "g1", ehr, age_s=1200)  # 20 minutes old: past the documented 15-minute alert
    _add(store, "p2", "g2", ehr)
    _add(store, "p3", "g3", ehr)
    claimed = {e.local_id: e for e in store.outbox.claim(10, "w1", 60)}
    assert store.outbox.mark_failed(claimed["g1"], "503 from EHR", utcnow() - timedelta(seconds=1))
    [again] = store.outbox.claim(10, "w1", 60)  # the second attempt of g1
    assert store.outbox.mark_failed(again, "503 from EHR", utcnow() + timedelta(hours=1))
    assert store.outbox.dead_letter(claimed["g2"], {"resourceType": "OperationOutcome", "issue": []})
    assert store.outbox.mark_sent(claimed["g3"], {"Goal/g3": "Goal/77"})

    s = scrape(client)
    assert s[("etmi_database_up", ())] == 1
    for status, n in (("failed", 1), ("dead", 1), ("sent", 1)):
        assert s[("etmi_outbox_entries", (("status", status), ("target", ehr)))] == n
    assert s[("etmi_outbox_retries", (("status", "failed"), ("target", ehr)))] == 1
    assert s[("etmi_outbox_dead_letters", (("target", ehr),))] == 1
    assert 1190 <= s[("etmi_outbox_oldest_pending_age_seconds", (("target", ehr),))] <= 1300

    assert store.outbox.replay([claimed["g2"].id]) == 1  # replayed: no dead letter left, the series says 0
    assert scrape(client)[("etmi_outbox_dead_letters", (("target", ehr),))] == 0


def test_requests_are_counted_by_route_rule_never_by_raw_path(client: FlaskClient) -> None:
    patient = f"p-{uuid.uuid4().hex[:8]}"
    assert client.get("/healthz").status_code == 200
    assert client.get(f"/fhir/Patient/{patient}").status_code == 404
    text = client.get("/metrics").get_data(as_text=True)
    assert patient not in text
    s = scrape(client)
    assert s[("etmi_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))] >= 1
    rules = {dict(labels)["route"] for name, labels in s if name == "etmi_http_requests_total"}
    assert any(r.startswith("/fhir/") and "<" in r for r in rules), rules
    assert s[("etmi_http_request_duration_seconds_count", (("method", "GET"), ("route", "/healthz")))] >= 1


def test_metrics_answers_loopback_clients_only(client: FlaskClient) -> None:
    outcome_of(client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}), 403)
    outcome_of(client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}), 403)
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_a_database_error_is_a_503_with_retry_after_not_a_500(app: Flask) -> None:
    def down() -> str:
        raise sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    app.add_url_rule("/test-db-down", view_func=down)
    response = app.test_client().get("/test-db-down")
    body = outcome_of(response, 503)
    assert response.headers["Retry-After"] == "5"
    assert body["issue"][0]["code"] == "transient"
    assert "SELECT" not in response.get_data(as_text=True)


def _workers(master: int) -> list[int]:
    """The gunicorn worker pids: the serve process's children."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def _only(workers: list[int], keep: set[int]) -> None:
    """Pause every worker outside ``keep`` (SIGSTOP) and resume the rest, so that the next connection is
    accepted by a worker in ``keep``: which worker answers is then decided by the test, not the kernel."""
    for pid in workers:
        os.kill(pid, signal.SIGCONT if pid in keep else signal.SIGSTOP)


@pytest.mark.slow
def test_under_gunicorn_with_a_multiprocess_dir_every_scrape_sums_every_worker(tmp_path: Path) -> None:
    port, prom = free_port(), tmp_path / "prom"
    prom.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETMI_")}
    env.update(ETMI_AUTH_MODE="none", ETMI_DATABASE_URL=f"sqlite:///{tmp_path / 'e.db'}",
               PROMETHEUS_MULTIPROC_DIR=str(prom))
    cli = Path(sys.executable).with_name("etmi-fhir")
    with (tmp_path / "serve.log").open("w") as out:
        proc = subprocess.Popen([str(cli), "serve", "--port", str(port), "--workers", "3", "--threads", "1"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    series = ("etmi_http_requests_total", (("method", "GET"), ("route", "/fhir/<rtype>/<rid>"), ("status", "404")))
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/healthz", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.3)
        deadline = time.monotonic() + 30
        while len(workers := _workers(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(workers) == 3, workers
        for worker in workers:  # each worker answers 10 of the 30 requests
            _only(workers, {worker})
            for _ in range(10):
                assert requests.get(f"{base}/fhir/Goal/none", timeout=5).status_code == 404
        assert {int(f.stem.split("_")[1]) for f in prom.glob("counter_*.db")} == set(workers)
        for worker in workers:  # and each, asked alone, reports the sum over all of them
            _only(workers, {worker})
            assert parse_samples(requests.get(f"{base}/metrics", timeout=5).text)[series] == 30.0, worker
    finally:
        _only(workers, set(workers))
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
