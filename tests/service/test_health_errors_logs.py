"""Health endpoints, the 500 answer, request ids, and what the logs never contain."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.app import create_app
from service.config import Settings
from tests.service.conftest import make_settings, outcome_of


def test_healthz_and_readyz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok", "auth_mode": "none"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": True, "migrations": True, "profiles": True}


def test_readyz_is_503_without_profiles_or_migrations(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'e.db'}", profiles_dir=tmp_path / "none", auto_migrate=False)
    app = create_app(settings)
    body = outcome_of(app.test_client().get("/readyz"), 503)
    assert "migrations" in body["issue"][0]["diagnostics"] and "profiles" in body["issue"][0]["diagnostics"]
    app.extensions["etmi"].store.close()


def test_unexpected_error_is_500_with_request_id_and_no_trace(app: Flask, client: FlaskClient) -> None:
    def boom() -> None:
        raise RuntimeError("secret detail /work/main/service/x.py line 3")

    app.add_url_rule("/boom", "boom", boom)
    response = client.get("/boom", headers={"X-Request-ID": "req-42"})
    body = outcome_of(response, 500)
    text = response.get_data(as_text=True)
    assert "req-42" in body["issue"][0]["diagnostics"] and response.headers["X-Request-ID"] == "req-42"
    assert "secret" not in text and "Traceback" not in text and ".py" not in text


def test_logs_hold_no_identifiers_bodies_or_tokens(client: FlaskClient, episode: dict[str, Any],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("etmi").propagate = True
    try:
        client.post("/api/v1/episodes", json=episode, headers={"Authorization": "Bearer tok-SECRET"})
        client.get("/fhir/Observation?identifier=P-000123")
        client.get("/fhir/Patient/P-000123")  # an identifier where an id belongs: the path is not logged
        client.get("/api/v1/patients/P-000123")
    finally:
        logging.getLogger("etmi").propagate = False
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "request" in text and "/fhir/<rtype>/<rid>" in text  # the route template
    for secret in ("P-000123", "tok-SECRET", "Brisk walking", "identifier=P-000123"):
        assert secret not in text


def test_settings_from_environment() -> None:
    env = {"ETMI_DATABASE_URL": "postgresql://x@h/db", "ETMI_AUTH_MODE": "none", "ETMI_PAGE_SIZE": "20",
           "ETMI_AUTH_ISSUER": "https://as.example/"}
    settings = Settings.from_env(env)
    assert (settings.database_url, settings.auth_mode, settings.page_size, settings.auth_issuer) == (
        "postgresql://x@h/db", "none", 20, "https://as.example")
    assert Settings.from_env({}).database_url == "sqlite:///var/etmi.db"
    with pytest.raises(ValueError, match="ETMI_AUTH_MODE"):
        Settings.from_env({"ETMI_AUTH_MODE": "maybe"})
