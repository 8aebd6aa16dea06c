"""Security headers on every response; the API docs page loads Swagger UI from the service itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.app import create_app
from tests.service.conftest import make_settings


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Any]:
    made: list[Flask] = []

    def make(**overrides: Any) -> FlaskClient:
        application = create_app(make_settings(f"sqlite:///{tmp_path / 'etmi.db'}", **overrides))
        made.append(application)
        return application.test_client()

    yield make
    for application in made:
        application.extensions["etmi"].store.close()


def _patient_data_responses(client: FlaskClient, episode: dict[str, Any]) -> dict[str, Any]:
    posted = client.post("/api/v1/episodes", json=episode)
    patient = posted.get_json()["patient_id"]
    return {
        "POST /api/v1/episodes": posted,
        "GET /api/v1/episodes/{id}": client.get(f"/api/v1/episodes/{episode['episode_id']}"),
        "GET /fhir/Patient/{id}": client.get(f"/fhir/Patient/{patient}"),
        "GET /fhir/Observation": client.get("/fhir/Observation"),
        "GET /fhir/Patient/{id}/_history": client.get(f"/fhir/Patient/{patient}/_history"),
        "GET /api/v1/audit": client.get("/api/v1/audit"),
        "GET /api/v1/outbox": client.get("/api/v1/outbox"),
        "404": client.get("/fhir/Patient/nobody"),
        "400": client.get("/fhir/Observation?_count=x"),
        "GET /healthz": client.get("/healthz"),
    }


def test_every_response_is_no_store_nosniff_with_a_csp(make_client: Any, episode: dict[str, Any]) -> None:
    for name, response in _patient_data_responses(make_client(), episode).items():
        assert response.status_code < 500, name
        assert response.headers["Cache-Control"] == "no-store", name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert "default-src 'none'" in response.headers["Content-Security-Policy"], name
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], name
        assert "Strict-Transport-Security" not in response.headers, name  # served over http


def test_hsts_when_the_public_base_url_is_https(make_client: Any, episode: dict[str, Any]) -> None:
    client = make_client(public_base_url="https://etmi.example")
    for name, response in _patient_data_responses(client, episode).items():
        assert response.headers["Strict-Transport-Security"].startswith("max-age="), name
        assert response.headers["Cache-Control"] == "no-store", name


def test_docs_page_loads_only_local_assets_and_they_are_served(make_client: Any) -> None:
    client = make_client()
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    references = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert {"/api/v1/docs/swagger-ui-bundle.js", "/api/v1/docs/swagger-ui.css"} <= set(references)
    assert all(ref.startswith("/api/v1/docs/") for ref in references), references
    assert "//" not in "".join(references) and "cdn" not in html.lower()
    assert "<script>" not in html  # no inline script: the CSP allows 'self' only
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for ref in references:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.mimetype == types[Path(ref).suffix], ref
        assert asset.headers["X-Content-Type-Options"] == "nosniff"
        assert asset.content_length is None or asset.content_length > 0
    bundle = client.get("/api/v1/docs/swagger-ui-bundle.js").get_data()
    assert b"SwaggerUIBundle" in bundle and len(bundle) > 100_000  # the real packaged Swagger UI
    start = client.get("/api/v1/docs/start.js").get_data(as_text=True)
    assert '"/api/v1/openapi.json"' in start
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/docs/..%2Fpyproject.toml").status_code == 404
    assert client.get("/api/v1/docs/oauth2-redirect.html").status_code == 404  # only the listed assets
