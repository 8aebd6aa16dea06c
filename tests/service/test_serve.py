"""``etmi-fhir serve`` (gunicorn) answers over real HTTP, with links for the address it serves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.servers.fixtures import free_port

pytestmark = pytest.mark.slow


def test_serve_runs_gunicorn_with_migrations(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETMI_")}
    env.update(ETMI_AUTH_MODE="none", ETMI_DATABASE_URL=f"sqlite:///{tmp_path / 'e.db'}")
    cli = Path(sys.executable).with_name("etmi-fhir")
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(cli), "serve", "--port", str(port), "--workers", "2"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, ready = time.monotonic() + 120, None
        while time.monotonic() < deadline and ready is None:
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            except (requests.ConnectionError, requests.Timeout):  # workers still booting
                time.sleep(0.3)
        assert ready is not None and ready.status_code == 200, log.read_text()[-3000:]
        metadata = requests.get(f"http://127.0.0.1:{port}/fhir/metadata", headers={"Host": "evil.example"}, timeout=5)
        assert metadata.headers["Content-Type"] == "application/fhir+json"
        assert metadata.headers["Cache-Control"] == "no-store"
        assert metadata.headers["X-Content-Type-Options"] == "nosniff"
        # no ETMI_PUBLIC_BASE_URL: links name the loopback address served, never the Host header
        assert metadata.json()["implementation"]["url"] == f"http://127.0.0.1:{port}/fhir"
        missing = requests.get(f"http://127.0.0.1:{port}/fhir/Goal/none", timeout=5)
        assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # gunicorn: quick shutdown
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
