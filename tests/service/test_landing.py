"""``/`` links what the service serves; ``/fhir`` and ``/api/v1`` point somewhere; ``serve`` prints its URLs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from service.app import create_app
from tests.servers.fixtures import free_port
from tests.service.conftest import make_settings

LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}


@pytest.fixture
def local(tmp_path: Path) -> Iterator[FlaskClient]:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'etmi.db'}"))
    yield app.test_client()
    app.extensions["etmi"].store.close()


def test_landing_links_answer_and_load_nothing(local: FlaskClient) -> None:
    page = local.get("/", environ_base=LOOPBACK)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    links = re.findall(r'href="([^"]+)"', html)
    for expected in ("/api/v1/docs", "/fhir/metadata", "/api/v1/outbox", "/api/v1/audit", "/fhir/AuditEvent"):
        assert expected in links
    for link in links:
        assert link.startswith("/"), link  # nothing from elsewhere
        answer = local.get(link, environ_base=LOOPBACK)
        assert answer.status_code in ((401,) if link.startswith("/clinician") else (200,)), (link, answer.status_code)
    assert "<script" not in html and "src=" not in html
    assert "script-src" not in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/fhir", "/fhir/"])
def test_fhir_base_points_at_metadata(local: FlaskClient, path: str) -> None:
    answer = local.get(path, environ_base=LOOPBACK)
    assert answer.status_code == 200 and answer.mimetype == "application/fhir+json"
    issue = answer.get_json()["issue"][0]
    assert issue["severity"] == "information" and "/fhir/metadata" in issue["diagnostics"]
    assert "/fhir/metadata>" in answer.headers["Link"]


def test_api_base_points_at_openapi(local: FlaskClient) -> None:
    body = local.get("/api/v1", environ_base=LOOPBACK).get_json()
    assert body["openapi"].endswith("/api/v1/openapi.json") and body["docs"].endswith("/api/v1/docs")
    assert local.get(body["openapi"].removeprefix("http://localhost"), environ_base=LOOPBACK).status_code == 200


@pytest.mark.slow
def test_serve_prints_the_urls_it_serves(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETMI_")}
    env.update(ETMI_AUTH_MODE="none", ETMI_DATABASE_URL=f"sqlite:///{tmp_path / 'e.db'}")
    cli = Path(sys.executable).with_name("etmi-fhir")
    proc = subprocess.Popen([str(cli), "serve", "--port", str(port), "--workers", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stderr is not None
        printed: list[str] = []
        while len(printed) < 3 and (line := proc.stderr.readline()):
            if line.startswith("etmi-fhir serve:"):
                printed.append(line.strip())
        base = f"http://127.0.0.1:{port}"
        assert printed == [f"etmi-fhir serve: landing page: {base}/", f"etmi-fhir serve: API docs: {base}/api/v1/docs",
                           f"etmi-fhir serve: FHIR R4 façade: {base}/fhir"]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
