"""A token endpoint's odd answers (HTML, a list, a non-string token, a bad lifetime) are AuthErrors or
handled, never a crash of the sync worker (a real local HTTP server plays the endpoint)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from service.adapters.smart_auth import BackendServicesAuth, discover_token_url, generate_private_key_pem
from service.sync.ports import AuthError


class Endpoint:
    def __init__(self) -> None:
        self.body = b"{}"
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(endpoint.body)))
                self.end_headers()
                self.wfile.write(endpoint.body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(scope="module")
def pem() -> str:
    return generate_private_key_pem("ES384")


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"[1, 2]", b'{"access_token": 7}', b'{"access_token": ""}',
                                  b'{"error": "invalid_client"}'])
def test_a_token_answer_without_a_token_is_an_auth_error(endpoint: Endpoint, pem: str, body: bytes) -> None:
    endpoint.body = body
    with pytest.raises(AuthError):
        BackendServicesAuth(f"{endpoint.url}/token", "c", pem, "k1").authorization()


@pytest.mark.parametrize("lifetime", ['"soon"', "-5", "true", "1e308"])
def test_a_bad_lifetime_falls_back_to_the_default(endpoint: Endpoint, pem: str, lifetime: str) -> None:
    endpoint.body = b'{"access_token": "t0k", "expires_in": ' + lifetime.encode() + b"}"
    auth = BackendServicesAuth(f"{endpoint.url}/token", "c", pem, "k1", clock=lambda: 1000.0)
    assert auth.authorization() == "Bearer t0k"
    assert auth._expires_at == 1300.0


@pytest.mark.parametrize("body", [b"not json", b'{"token_endpoint": 5}', b'{"token_endpoint": "javascript:x"}'])
def test_smart_configuration_without_a_token_endpoint_is_an_auth_error(endpoint: Endpoint, body: bytes) -> None:
    endpoint.body = body
    with pytest.raises(AuthError, match="no token_endpoint"):
        discover_token_url(endpoint.url)
