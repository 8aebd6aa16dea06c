"""The database goes away and comes back: a private PostgreSQL (tests/servers/postgres/start) is
stopped under a running app, which answers 503 OperationOutcomes with Retry-After (never a 500) on
``/readyz``, on an API write and on a FHIR read, and ``/metrics`` still answers with
``etmi_database_up 0``; when PostgreSQL answers again on the same port, the same app recovers by
itself (the pool's pre-ping drops the dead connections).

The start script removes its data directory when it stops, so "comes back" is a new cluster on the
same port, migrated by the test before the app is asked again: the app process, its engine and its
connection pool are the ones that saw the outage.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.app import create_app
from service.store import open_store
from tests.servers.fixtures import ServerProcess, free_port, started
from tests.service.conftest import make_settings, outcome_of

pytestmark = pytest.mark.postgres
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "episode.json"


def fresh_episode() -> dict[str, Any]:
    episode: dict[str, Any] = json.loads(EXAMPLE.read_text())
    episode["episode_id"] = f"ep-{uuid.uuid4().hex[:10]}"
    return episode


def written(client: FlaskClient) -> int:
    return client.post("/api/v1/episodes", json=fresh_episode()).status_code


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def first_server(port: int) -> Iterator[ServerProcess]:
    server = ServerProcess("postgres", 120, {"PORT": str(port)})
    yield server
    server.stop()


@pytest.fixture
def app(first_server: ServerProcess) -> Iterator[Flask]:
    application = create_app(make_settings(first_server.url))
    yield application
    application.extensions["etmi"].store.close()


def metric(client: FlaskClient, name: str) -> str:
    lines = [line for line in client.get("/metrics").get_data(as_text=True).splitlines() if line.startswith(name)]
    assert len(lines) == 1, lines
    return lines[0].split()[-1]


def test_503_while_postgres_is_stopped_and_recovery_when_it_returns(
        app: Flask, first_server: ServerProcess, port: int) -> None:
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    assert written(client) == 201
    assert metric(client, "etmi_database_up") == "1.0"

    first_server.stop()  # SIGTERM to the start script's process group: postgres is gone

    readyz = client.get("/readyz")
    assert "database" in outcome_of(readyz, 503)["issue"][0]["diagnostics"]
    assert readyz.headers["Retry-After"] == "5"
    write = client.post("/api/v1/episodes", json=fresh_episode())
    body = outcome_of(write, 503)
    assert write.headers["Retry-After"] == "5"
    assert body["issue"][0]["code"] == "transient"
    assert "postgresql" not in write.get_data(as_text=True).lower()  # no URL, no statement in the answer
    outcome_of(client.get(f"/fhir/Patient/{uuid.uuid4().hex}"), 503)
    assert client.get("/healthz").status_code == 200  # the process itself still answers
    assert metric(client, "etmi_database_up") == "0.0"

    with started("postgres", env={"PORT": str(port)}) as url:
        open_store(url).close()  # the returning database has the schema (a fresh cluster: migrate it)
        assert client.get("/readyz").status_code == 200
        assert written(client) == 201
        assert metric(client, "etmi_database_up") == "1.0"
