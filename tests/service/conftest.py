"""Fixtures of the service tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from werkzeug.test import TestResponse

from service.app import create_app
from service.config import Settings
from service.store import Store, open_store


@pytest.fixture(scope="session", autouse=True)
def r4_definitions() -> None:
    """The validator's FHIR R4 definitions (scripts/test fetches them; a bare pytest run too)."""
    from tests.validation.conftest import ensure_definitions

    ensure_definitions()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def _fresh_postgres(base_url: str, template: str | None = None) -> str:
    """A new database on the test server (a copy of ``template``, else empty): every test starts clean."""
    name = f"etmi_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_driver(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    admin.dispose()
    head, _, _ = base_url.rpartition("/")
    return f"{head}/{name}"


def _drop_postgres(base_url: str, url: str) -> None:
    admin = create_engine(_driver(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> Iterator[str]:
    """A migrated database that every PostgreSQL test copies (faster than migrating each time)."""
    url = _fresh_postgres(postgres_url)
    open_store(url).close()
    yield url.rpartition("/")[2]
    _drop_postgres(postgres_url, url)


def _driver(url: str) -> str:
    if url.startswith("postgresql://"):
        return url.replace("postgresql://", "postgresql+psycopg://", 1)
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'etmi.db'}"
        return
    server = request.getfixturevalue("postgres_url")
    url = _fresh_postgres(server, request.getfixturevalue("postgres_template"))
    yield url
    _drop_postgres(server, url)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    yield opened
    opened.close()


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "episode.json"


@pytest.fixture
def episode() -> dict[str, Any]:
    """The documented example episode (a fresh copy per test)."""
    data: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return data


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return dataclasses.replace(Settings(database_url=database_url, auth_mode="none"), **overrides)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    application = create_app(make_settings(database_url))
    yield application
    application.extensions["etmi"].store.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def outcome_of(response: TestResponse, status: int) -> dict[str, Any]:
    """Assert the response is an OperationOutcome with ``status``; return it."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/fhir+json"
    body: dict[str, Any] = response.get_json(force=True)
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    return body
