"""SMART Backend Services against the real SMART authorization server (oidc-provider wrapper)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from tests.integration.test_smart_support import (
    backend_token,
    client_assertion,
    new_key,
    public_jwk,
    register_backend_client,
    smart_configuration,
    unverified_claims,
)

pytestmark = pytest.mark.smart


@pytest.fixture(scope="module")
def token_url(smart_url: str) -> str:
    url: str = smart_configuration(smart_url)["token_endpoint"]
    return url


def test_smart_configuration_advertises_backend_services(smart_url: str) -> None:
    config = smart_configuration(smart_url)
    assert config["issuer"] == smart_url
    assert "client_credentials" in config["grant_types_supported"]
    assert "private_key_jwt" in config["token_endpoint_auth_methods_supported"]
    assert {"RS384", "ES384"} <= set(config["token_endpoint_auth_signing_alg_values_supported"])
    assert config["code_challenge_methods_supported"] == ["S256"]


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_backend_token_with_inline_jwks(smart_url: str, token_url: str, alg: str) -> None:
    key = new_key(alg)
    client_id = register_backend_client(smart_url, alg, jwks={"keys": [public_jwk(key, "k1", alg)]})
    scope = "system/Patient.rs system/Observation.cruds"
    response = backend_token(token_url, client_assertion(client_id, token_url, key, alg, "k1"), scope)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 300
    assert set(body["scope"].split()) == set(scope.split())
    claims = unverified_claims(body["access_token"])
    assert claims["iss"] == smart_url
    assert claims["client_id"] == client_id
    assert claims["aud"] == f"{smart_url}/fhir"


class _JwksHandler(BaseHTTPRequestHandler):
    jwks: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        body = json.dumps(self.jwks).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, type[_JwksHandler]]]:
    handler = type("Handler", (_JwksHandler,), {"jwks": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", handler
    finally:
        server.shutdown()
        server.server_close()


def test_backend_token_with_jwks_uri(smart_url: str, token_url: str,
                                     jwks_server: tuple[str, type[_JwksHandler]]) -> None:
    url, handler = jwks_server
    key = new_key("ES384")
    handler.jwks = {"keys": [public_jwk(key, "by-url", "ES384")]}
    client_id = register_backend_client(smart_url, "ES384", jwks_uri=url)
    response = backend_token(token_url, client_assertion(client_id, token_url, key, "ES384", "by-url"))
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def es384_client(smart_url: str) -> tuple[str, Any]:
    key = new_key("ES384")
    return register_backend_client(smart_url, "ES384", jwks={"keys": [public_jwk(key, "k1", "ES384")]}), key


def test_replayed_assertion_is_refused(token_url: str, es384_client: tuple[str, Any]) -> None:
    client_id, key = es384_client
    assertion = client_assertion(client_id, token_url, key, "ES384", "k1")
    assert backend_token(token_url, assertion).status_code == 200
    replay = backend_token(token_url, assertion)
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"


def test_same_jti_in_a_new_assertion_is_refused(token_url: str, es384_client: tuple[str, Any]) -> None:
    client_id, key = es384_client
    first = client_assertion(client_id, token_url, key, "ES384", "k1", jti="fixed-jti-1")
    assert backend_token(token_url, first).status_code == 200
    second = client_assertion(client_id, token_url, key, "ES384", "k1", jti="fixed-jti-1", lifetime=200)
    assert backend_token(token_url, second).status_code == 401


def test_assertion_signed_with_another_key_is_refused(token_url: str, es384_client: tuple[str, Any]) -> None:
    client_id, _ = es384_client
    response = backend_token(token_url, client_assertion(client_id, token_url, new_key("ES384"), "ES384", "k1"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_assertion_with_the_wrong_algorithm_is_refused(smart_url: str, token_url: str) -> None:
    key = new_key("RS384")
    client_id = register_backend_client(smart_url, "RS384", jwks={"keys": [public_jwk(key, "k1", "RS384")]})
    response = backend_token(token_url, client_assertion(client_id, token_url, key, "RS256", "k1"))
    assert response.status_code == 401


def test_assertion_exp_more_than_five_minutes_ahead_is_refused(token_url: str,
                                                               es384_client: tuple[str, Any]) -> None:
    client_id, key = es384_client
    response = backend_token(token_url, client_assertion(client_id, token_url, key, "ES384", "k1", lifetime=3600))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_expired_assertion_is_refused(token_url: str, es384_client: tuple[str, Any]) -> None:
    client_id, key = es384_client
    response = backend_token(token_url, client_assertion(client_id, token_url, key, "ES384", "k1", lifetime=-120))
    assert response.status_code == 401


def test_assertion_for_another_audience_is_refused(token_url: str, es384_client: tuple[str, Any]) -> None:
    client_id, key = es384_client
    assertion = client_assertion(client_id, "https://elsewhere.example/token", key, "ES384", "k1")
    assert backend_token(token_url, assertion).status_code == 401


def test_unknown_resource_is_refused(token_url: str, es384_client: tuple[str, Any]) -> None:
    client_id, key = es384_client
    assertion = client_assertion(client_id, token_url, key, "ES384", "k1")
    response = backend_token(token_url, assertion, resource="https://unknown.example/fhir")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"
