"""Nothing identifying in any log line, end to end: ``etmi-fhir serve`` (gunicorn, jwt mode) ingests a
synthetic patient's episode through ``/api/v1``, answers ``/fhir`` reads and searches (by the patient's
identifier), refuses bad writes and bad tokens; ``etmi-fhir worker`` pushes the outbox to a real EHR
(HAPI, Medplum) and pulls. Every line both processes write (stdout and stderr, log level DEBUG) is
scanned for the patient's identifier, the free-text answers and the bearer tokens: none may appear.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from service.adapters.fhir_client import FhirClient
from tests.servers.fixtures import free_port
from tests.service.test_token_rejections import AUDIENCE, claims, issuer, sign, signing_key  # noqa: F401
from tests.sync.support import unique_episode

pytestmark = pytest.mark.slow
CLI = Path(sys.executable).with_name("etmi-fhir")


@pytest.fixture(params=[pytest.param("hapi_url", marks=pytest.mark.hapi),
                        pytest.param("medplum_url", marks=pytest.mark.medplum)])
def ehr_base(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def _env(tmp_path: Path, issuer: str, ehr: str) -> dict[str, str]:  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETMI_")}
    targets = {"targets": {"ehr": {"base_url": ehr, "timeout": [10, 120], "backoff_base": 0.01, "backoff_cap": 0.05,
                                   "max_entries": 8}}}  # Medplum's bundle limit (tests/sync/support.py)
    env.update(ETMI_AUTH_MODE="jwt", ETMI_AUTH_ISSUER=issuer, ETMI_AUTH_AUDIENCE=AUDIENCE, ETMI_LOG_LEVEL="DEBUG",
               ETMI_DATABASE_URL=f"sqlite:///{tmp_path / 'etmi.db'}", ETMI_SYNC_TARGETS=json.dumps(targets))
    return env


@pytest.fixture
def served(tmp_path: Path, issuer: str, ehr_base: str) -> Iterator[tuple[str, Path, dict[str, str]]]:  # noqa: F811
    """``etmi-fhir serve`` on a free loopback port: (base URL, its log file, its environment)."""
    env, port, log = _env(tmp_path, issuer, ehr_base), free_port(), tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(CLI), "serve", "--port", str(port), "--workers", "1"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, ready = time.monotonic() + 120, None
        while time.monotonic() < deadline and (ready is None or ready.status_code != 200):
            try:
                ready = requests.get(f"{base}/readyz", timeout=2)
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.3)
        assert ready is not None and ready.status_code == 200, log.read_text()[-3000:]
        yield base, log, env
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _ingest(base: str, token: str, payload: dict[str, Any]) -> None:
    """Writes, reads, searches and refusals that all carry the patient's identifier or answers."""
    auth = {"Authorization": f"Bearer {token}"}
    mrn = payload["patient"]["value"]
    system = payload["patient"]["system"]
    created = requests.post(f"{base}/api/v1/episodes", json=payload, headers=auth, timeout=120)
    assert created.status_code == 201, created.text
    patient_id = created.json()["patient_id"]
    score = {"score_id": "extra", "kind": "pain", "value": 3, "effective": "2026-05-12T13:00:00+02:00"}
    url = f"{base}/api/v1/episodes/{payload['episode_id']}"
    assert requests.post(f"{url}/outcome-scores", json=score, headers=auth, timeout=60).status_code == 200
    assert requests.get(url, headers=auth, timeout=30).status_code == 200
    assert requests.post(f"{base}/api/v1/patients", json=payload["patient"], headers=auth, timeout=30).ok
    found = requests.get(f"{base}/fhir/Patient?identifier={quote(f'{system}|{mrn}')}", headers=auth, timeout=30)
    assert found.status_code == 200 and found.json()["total"] == 1, found.text
    assert requests.get(f"{base}/fhir/Observation?patient={patient_id}", headers=auth, timeout=30).ok
    bad = {**payload, "episode_id": f"{payload['episode_id']}-bad", "start": f"not-a-date-{mrn}"}
    assert requests.post(f"{base}/api/v1/episodes", json=bad, headers=auth, timeout=60).status_code == 422
    assert requests.get(f"{base}/fhir/Patient/{mrn}", headers=auth, timeout=30).status_code == 404
    assert requests.get(f"{base}/api/v1/patients/{mrn}", headers=auth, timeout=30).status_code == 404
    refused = requests.get(f"{base}/fhir/Patient?identifier={mrn}", headers={"Authorization": f"Bearer {mrn}"},
                           timeout=30)
    assert refused.status_code == 401
    validated = requests.post(f"{base}/fhir/$validate", headers={**auth, "Content-Type": "application/fhir+json"},
                              json={"resourceType": "Patient", "identifier": [{"system": system, "value": mrn}]},
                              timeout=60)
    assert validated.status_code == 200, validated.text


def test_no_identifier_answer_or_token_in_any_log_line(served: tuple[str, Path, dict[str, str]], ehr_base: str,
                                                       issuer: str, signing_key: rsa.RSAPrivateKey,  # noqa: F811
                                                       tmp_path: Path) -> None:
    base, serve_log, env = served
    token = sign(claims(issuer, scope="user/*.cruds system/*.rs", sub="clinic-app"), signing_key)
    payload = unique_episode(7)
    secret = f"walk-{uuid.uuid4().hex[:8]} with the dog"
    payload["goals"][0]["description"] = secret
    _ingest(base, token, payload)

    worker_log = tmp_path / "worker.log"
    with worker_log.open("w") as out:
        done = subprocess.run([str(CLI), "worker", "--exit-when-idle", "--pull-every", "3600", "--idle", "0.2"],
                              env=env, stdout=out, stderr=subprocess.STDOUT, timeout=600, check=False)
    assert done.returncode == 0, worker_log.read_text()[-3000:]
    auth = {"Authorization": f"Bearer {token}"}
    sent = requests.get(f"{base}/api/v1/outbox?status=sent,failed,dead", headers=auth, timeout=30).json()
    assert sent["counts"].get("sent", 0) >= 1 and not {"failed", "dead"} & set(sent["counts"]), sent["entries"]
    mrn, system = payload["patient"]["value"], payload["patient"]["system"]
    assert list(FhirClient(ehr_base).search("Patient", {"identifier": f"{system}|{mrn}"})), "the sync reached the EHR"

    lines = serve_log.read_text().splitlines() + worker_log.read_text().splitlines()
    assert any('"event": "request"' in line or '"event":"request"' in line for line in lines), "the logs were read"
    forbidden = {"identifier": mrn, "identifier (encoded)": quote(mrn), "answer": secret,
                 "token": token, "token signature": token.rsplit(".", 1)[-1]}
    leaks = [(what, line) for line in lines for what, value in forbidden.items() if value in line]
    assert not leaks, leaks[:5]
