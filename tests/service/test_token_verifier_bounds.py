"""The JWKS token verifier against real local HTTP issuers: bounded discovery, one fetch per burst, leeway.

Counts, not timings: a hanging issuer and a burst of parallel requests cost exactly one connection,
a second bad request none, and a token of another issuer is refused before any network call.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.adapters.token_verifier import JwksTokenVerifier
from service.app import create_app
from service.security import InvalidToken
from tests.servers.loopback import QuietHandler, serve
from tests.service.conftest import make_settings

AUDIENCE = "https://etmi.example/fhir"


class HangingIssuer:
    """Accepts TCP connections and never answers; counts them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


class Issuer:
    """A real HTTP issuer: OpenID metadata and a JWKS with one EC key; counts requests per path."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.hits: dict[str, int] = {}
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid="k1", alg="ES256", use="sig")
        issuer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                issuer.hits[self.path] = issuer.hits.get(self.path, 0) + 1
                documents = {"/.well-known/openid-configuration": {"issuer": issuer.url,
                                                                    "jwks_uri": f"{issuer.url}/jwks"},
                             "/jwks": {"keys": [jwk]}}
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_body(200 if self.path in documents else 404, body)


        self.server, self.url = serve(Handler)

    def token(self, kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": AUDIENCE, "sub": "client-1", "exp": now + 300, "iat": now,
                "scope": "system/*.rs", **claims}
        return jwt.encode({k: v for k, v in body.items() if v is not None}, self.key, algorithm="ES256",
                          headers={"kid": kid})


class DripIssuer(HangingIssuer):
    """Answers 200 at once, then drips its body one byte at a time, forever (until closed)."""

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
            while True:
                time.sleep(0.1)
                conn.sendall(b" ")
        except OSError:
            return


@pytest.fixture
def hanging() -> Iterator[HangingIssuer]:
    server = HangingIssuer()
    yield server
    server.close()


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    server = Issuer()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_hanging_issuer_costs_one_connection_for_a_burst_and_none_for_the_next(hanging: HangingIssuer) -> None:
    verifier = JwksTokenVerifier(hanging.url, AUDIENCE, timeout=0.5)
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode({"iss": hanging.url, "aud": AUDIENCE, "exp": int(time.time()) + 60}, key, "ES256",
                       headers={"kid": "k1"})
    errors: list[Exception] = []

    def call() -> None:
        try:
            verifier.verify(token)
        except InvalidToken as err:
            errors.append(err)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)  # bounded: every request got its answer
    assert len(errors) == 6
    assert hanging.accepted == 1 and verifier.fetches == 1  # one discovery attempt, not one per request
    with pytest.raises(InvalidToken):
        verifier.verify(token)
    assert hanging.accepted == 1 and verifier.fetches == 1  # the failure is remembered


def test_another_issuers_token_is_refused_without_a_network_call(hanging: HangingIssuer, issuer: Issuer) -> None:
    verifier = JwksTokenVerifier(hanging.url, AUDIENCE, timeout=0.5)
    with pytest.raises(InvalidToken, match="another issuer"):
        verifier.verify(issuer.token())  # signed by a real issuer, but not the configured one
    with pytest.raises(InvalidToken):
        verifier.verify("not.a.jwt")
    assert hanging.accepted == 0 and verifier.fetches == 0 and issuer.hits == {}


def test_keys_are_discovered_once_and_unknown_kids_do_not_refetch_each_time(issuer: Issuer) -> None:
    verifier = JwksTokenVerifier(issuer.url, AUDIENCE)
    assert verifier.verify(issuer.token()).subject == "client-1"
    assert verifier.verify(issuer.token(sub="client-2")).subject == "client-2"
    assert issuer.hits == {"/.well-known/openid-configuration": 1, "/jwks": 1}
    for _ in range(5):
        with pytest.raises(InvalidToken, match="signing key"):
            verifier.verify(issuer.token(kid="unknown"))
    assert issuer.hits["/jwks"] == 1  # within refresh_interval: no fetch per bad token


def test_audience_is_always_checked(issuer: Issuer) -> None:
    verifier = JwksTokenVerifier(issuer.url, AUDIENCE)
    with pytest.raises(InvalidToken, match="InvalidAudience"):
        verifier.verify(issuer.token(aud="https://elsewhere.example/fhir"))
    with pytest.raises(InvalidToken, match="MissingRequiredClaim"):
        verifier.verify(issuer.token(aud=None))


def test_clock_skew_leeway(issuer: Issuer) -> None:
    verifier = JwksTokenVerifier(issuer.url, AUDIENCE, leeway=60)
    now = int(time.time())
    verifier.verify(issuer.token(exp=now - 30))  # expired 30 s ago: within the leeway
    verifier.verify(issuer.token(nbf=now + 30, iat=now + 30))  # a clock 30 s ahead
    with pytest.raises(InvalidToken, match="ExpiredSignature"):
        verifier.verify(issuer.token(exp=now - 120))
    with pytest.raises(InvalidToken, match="ImmatureSignature"):
        verifier.verify(issuer.token(nbf=now + 120))


@pytest.mark.parametrize("scope", [[1, 2], [{"a": 1}], 7, {"x": "y"}])
def test_a_scope_claim_of_the_wrong_type_is_an_invalid_token(issuer: Issuer, scope: Any) -> None:
    verifier = JwksTokenVerifier(issuer.url, AUDIENCE)
    with pytest.raises(InvalidToken, match="scope claim"):
        verifier.verify(issuer.token(scope=scope))
    assert verifier.verify(issuer.token(scope=["patient/*.rs", "launch"])).scopes


def test_the_service_with_a_hanging_issuer_answers_a_burst_with_401_after_one_connection(
    hanging: HangingIssuer, tmp_path: Path,
) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'e.db'}", auth_mode="jwt", auth_issuer=hanging.url,
                                   auth_audience=AUDIENCE))
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode({"iss": hanging.url, "aud": AUDIENCE, "exp": int(time.time()) + 60}, key, "ES256",
                       headers={"kid": "k1"})
    statuses: list[int] = []

    def call() -> None:
        client = app.test_client()
        statuses.append(client.get("/fhir/Goal", headers={"Authorization": f"Bearer {token}"}).status_code)

    try:
        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert statuses == [401] * 4 and hanging.accepted == 1
        call()
        assert statuses[-1] == 401 and hanging.accepted == 1
    finally:
        app.extensions["etmi"].store.close()


def test_an_issuer_dripping_its_answer_is_cut_off(tmp_path: Path) -> None:
    drip = DripIssuer()
    try:
        verifier = JwksTokenVerifier(drip.url, AUDIENCE, timeout=0.5)
        key = ec.generate_private_key(ec.SECP256R1())
        token = jwt.encode({"iss": drip.url, "aud": AUDIENCE, "exp": int(time.time()) + 60}, key, "ES256")
        done: list[Exception] = []

        def call() -> None:
            try:
                verifier.verify(token)
            except InvalidToken as err:
                done.append(err)

        worker = threading.Thread(target=call)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive() and done  # cut off by the deadline, not after 100,000 bytes
        assert drip.accepted == 1 and verifier.fetches == 1
    finally:
        drip.close()


# -- how long an issuer may take ---------------------------------------------------------------------------------
def elapsed_refusal(verifier: JwksTokenVerifier, url: str) -> float:
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode({"iss": url, "aud": AUDIENCE, "exp": int(time.time()) + 60}, key, "ES256")
    started = time.monotonic()
    with pytest.raises(InvalidToken):
        verifier.verify(token)
    return time.monotonic() - started


def test_a_hanging_issuer_is_given_up_after_the_default_3_s_timeout() -> None:
    hanging = HangingIssuer()
    try:
        assert 2.9 <= elapsed_refusal(JwksTokenVerifier(hanging.url, AUDIENCE), hanging.url) < 3.8
        assert hanging.accepted == 1  # a timeout ends the discovery: the second path is not asked
    finally:
        hanging.close()


def test_a_dripping_issuer_is_cut_off_at_twice_the_timeout() -> None:
    """Each byte comes within the read timeout (0.1 s apart); the whole document gets 2 x 0.8 s."""
    drip = DripIssuer()
    try:
        assert 1.55 <= elapsed_refusal(JwksTokenVerifier(drip.url, AUDIENCE, timeout=0.8), drip.url) < 2.3
    finally:
        drip.close()
