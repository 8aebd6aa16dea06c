"""The service itself refuses bad bearer tokens with 401: forged (another key, a tampered payload, alg
confusion), ``alg: none``, expired, from another issuer, for another audience, without ``exp``.

The issuer is a real HTTP server on loopback (discovery document + JWKS, like any OpenID issuer) whose
signing key the test holds, so it can mint the well-formed tokens a real authorization server never
issues. A correctly signed token gets 200: the refusals are about the token, not the setup.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient

from service.app import create_app
from tests.service.conftest import make_settings, outcome_of

KID = "issuer-key-1"
AUDIENCE = "https://etmi.test/fhir"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa_key()


@pytest.fixture(scope="module")
def issuer(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """``http://127.0.0.1:PORT``: serves its discovery document and its JWKS (the public key only)."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwks = {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://{self.headers['Host']}"
            documents = {"/.well-known/openid-configuration": {"issuer": base, "jwks_uri": f"{base}/jwks"},
                         "/jwks": jwks}
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(issuer: str, tmp_path: Path) -> Iterator[FlaskClient]:
    settings = make_settings(f"sqlite:///{tmp_path / 'etmi.db'}", auth_mode="jwt", auth_issuer=issuer,
                             auth_audience=AUDIENCE)
    app = create_app(settings)
    yield app.test_client()
    app.extensions["etmi"].store.close()


def claims(issuer: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": issuer, "aud": AUDIENCE, "sub": "backend-client", "scope": "system/*.rs",
            "iat": now, "exp": now + 300}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def sign(payload: dict[str, Any], key: rsa.RSAPrivateKey, alg: str = "RS256", kid: str = KID) -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def get(client: FlaskClient, token: str) -> Any:
    return client.get("/fhir/Observation", headers={"Authorization": f"Bearer {token}"})


def test_a_token_signed_by_the_issuer_is_accepted(client: FlaskClient, issuer: str,
                                                  signing_key: rsa.RSAPrivateKey) -> None:
    response = get(client, sign(claims(issuer), signing_key))
    assert response.status_code == 200, response.get_data(as_text=True)


def forged_with_another_key(issuer: str, _key: rsa.RSAPrivateKey) -> str:
    return sign(claims(issuer), rsa_key())  # same kid, another private key


def tampered_payload(issuer: str, key: rsa.RSAPrivateKey) -> str:
    header, _payload, signature = sign(claims(issuer, scope="patient/*.rs"), key).split(".")
    return ".".join([header, b64(claims(issuer, scope="system/*.cruds")), signature])


def alg_none(issuer: str, _key: rsa.RSAPrivateKey) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{b64(claims(issuer))}."


def hs256_with_the_public_key(issuer: str, key: rsa.RSAPrivateKey) -> str:
    """Algorithm confusion: an HMAC 'signed' with the issuer's public key as the secret."""
    import hashlib
    import hmac

    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': KID})}.{b64(claims(issuer))}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def expired(issuer: str, key: rsa.RSAPrivateKey) -> str:
    now = int(time.time())
    return sign(claims(issuer, iat=now - 7200, exp=now - 3600), key)


def another_issuer(_issuer: str, key: rsa.RSAPrivateKey) -> str:
    return sign(claims("https://evil.example"), key)


def another_audience(issuer: str, key: rsa.RSAPrivateKey) -> str:
    return sign(claims(issuer, aud="https://another-service.example/fhir"), key)


def without_exp(issuer: str, key: rsa.RSAPrivateKey) -> str:
    return sign(claims(issuer, exp=None), key)


@pytest.mark.parametrize("make", [forged_with_another_key, tampered_payload, alg_none, hs256_with_the_public_key,
                                  expired, another_issuer, another_audience, without_exp],
                         ids=lambda f: f.__name__)
def test_the_service_refuses_a_bad_token_with_401(
    client: FlaskClient, issuer: str, signing_key: rsa.RSAPrivateKey, make: Any,
) -> None:
    body = outcome_of(get(client, make(issuer, signing_key)), 401)
    assert body["issue"][0]["code"] == "login"
    assert "entry" not in body


def test_a_refused_token_writes_nothing(client: FlaskClient, issuer: str, signing_key: rsa.RSAPrivateKey,
                                        episode: dict[str, Any]) -> None:
    forged = sign(claims(issuer, scope="user/*.cruds"), rsa_key())
    outcome_of(client.post("/api/v1/episodes", json=episode, headers={"Authorization": f"Bearer {forged}"}), 401)
    good = sign(claims(issuer, scope="user/*.cruds"), signing_key)
    listed = client.get("/fhir/Patient", headers={"Authorization": f"Bearer {good}"}).get_json(force=True)
    assert listed.get("total", len(listed.get("entry", []))) == 0
