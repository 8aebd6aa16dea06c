"""Safe configuration by default: refusal to start, loopback only in ``none`` mode, links from the public base URL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from service.app import create_app
from service.config import ConfigError, Settings
from tests.service.conftest import make_settings, outcome_of

CLI = Path(sys.executable).with_name("etmi-fhir")


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Any]:
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        application = create_app(make_settings(f"sqlite:///{tmp_path / 'etmi.db'}", **overrides))
        made.append(application)
        return application

    yield make
    for application in made:
        application.extensions["etmi"].store.close()


def test_jwt_mode_refuses_to_start_without_an_audience(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'e.db'}", auth_mode="jwt", auth_issuer="https://as.example")
    with pytest.raises(ConfigError, match="ETMI_AUTH_AUDIENCE is required"):
        create_app(settings)
    env = {"ETMI_AUTH_MODE": "jwt", "ETMI_AUTH_ISSUER": "https://as.example"}
    with pytest.raises(ConfigError, match="ETMI_AUTH_AUDIENCE"):
        Settings.from_env(env).check()
    Settings.from_env({**env, "ETMI_AUTH_AUDIENCE": "https://etmi.example/fhir"}).check()  # complete: accepted


def _serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ETMI_")}
    clean.update(ETMI_DATABASE_URL=f"sqlite:///{tmp_path / 's.db'}", **env)
    return subprocess.run([str(CLI), "serve", "--port", "1", *args], env=clean, capture_output=True, text=True,
                          timeout=60)


def test_serve_refuses_jwt_without_audience_and_none_mode_on_a_public_interface(tmp_path: Path) -> None:
    run = _serve(tmp_path, ETMI_AUTH_MODE="jwt", ETMI_AUTH_ISSUER="https://as.example")
    assert run.returncode == 2 and "ETMI_AUTH_AUDIENCE is required" in run.stderr
    run = _serve(tmp_path, "--host", "0.0.0.0", ETMI_AUTH_MODE="none", ETMI_PUBLIC_BASE_URL="http://etmi.example")
    assert run.returncode == 2 and "binds loopback only" in run.stderr
    assert "ETMI_ALLOW_UNAUTHENTICATED_REMOTE=true" in run.stderr
    run = _serve(tmp_path, "--host", "0.0.0.0", ETMI_AUTH_MODE="jwt", ETMI_AUTH_ISSUER="https://as.example",
                 ETMI_AUTH_AUDIENCE="https://etmi.example/fhir")
    assert run.returncode == 2 and "ETMI_PUBLIC_BASE_URL is required" in run.stderr
    private = '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}]}'
    run = _serve(tmp_path, ETMI_AUTH_MODE="none", ETMI_PUBLIC_JWKS=private)
    assert run.returncode == 2 and "ETMI_PUBLIC_JWKS: keys[0] holds private" in run.stderr


@pytest.mark.parametrize("value", ["etmi.example", "ftp://etmi.example", "https://etmi.example/fhir",
                                   "https://user@etmi.example", "https://etmi.example:x", "https://etmi.example?a=1"])
def test_public_base_url_must_be_an_origin(value: str) -> None:
    with pytest.raises(ConfigError, match="ETMI_PUBLIC_BASE_URL"):
        Settings(auth_mode="none", public_base_url=value).check()


def test_none_mode_answers_loopback_clients_only(make_app: Any) -> None:
    guarded = make_app().test_client()
    assert guarded.get("/healthz", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert guarded.get("/healthz", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    body = outcome_of(guarded.get("/fhir/Goal", environ_base={"REMOTE_ADDR": "203.0.113.7"}), 403)
    assert "ETMI_ALLOW_UNAUTHENTICATED_REMOTE" in body["issue"][0]["diagnostics"]
    outcome_of(guarded.post("/api/v1/episodes", json={}, environ_base={"REMOTE_ADDR": "::ffff:10.0.0.2"}), 403)
    opened = make_app(allow_unauthenticated_remote=True).test_client()
    assert opened.get("/fhir/Goal", environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code == 200


def test_links_come_from_the_public_base_url_never_the_host_header(make_app: Any, episode: dict[str, Any]) -> None:
    client = make_app(public_base_url="https://etmi.example:8443").test_client()
    hostile = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http",
               "Forwarded": "host=evil.example"}
    posted = client.post("/api/v1/episodes", json=episode, headers=hostile)
    assert posted.status_code == 201
    assert "evil" not in posted.headers["Location"]
    bundle = client.get("/fhir/Observation?_count=1", headers=hostile).get_json(force=True)
    urls = [link["url"] for link in bundle["link"]] + [e["fullUrl"] for e in bundle["entry"]]
    assert any(link["relation"] == "next" for link in bundle["link"])
    assert urls and all(u.startswith("https://etmi.example:8443/fhir/") for u in urls), urls
    metadata = client.get("/fhir/metadata", headers=hostile).get_json(force=True)
    assert metadata["implementation"]["url"] == "https://etmi.example:8443/fhir"


def test_default_base_is_localhost_whatever_the_host_header(make_app: Any, episode: dict[str, Any]) -> None:
    client = make_app().test_client()
    assert client.post("/api/v1/episodes", json=episode).status_code == 201
    bundle = client.get("/fhir/Goal", headers={"Host": "evil.example:81"}).get_json(force=True)
    assert all(e["fullUrl"].startswith("http://localhost/fhir/Goal/") for e in bundle["entry"])
