"""Client-side helpers for the SMART authorization server tests (PyJWT + cryptography + requests).

No tests here: the test_smart_* modules import these. Clients are registered through the server's
open dynamic client registration endpoint (``POST <issuer>/reg``), so every test uses its own keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the test stops at the redirect


def new_key(alg: str) -> PrivateKey:
    if alg.startswith("ES"):
        return ec.generate_private_key(ec.SECP384R1() if alg == "ES384" else ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: PrivateKey, kid: str, alg: str) -> dict[str, Any]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def smart_configuration(issuer: str) -> dict[str, Any]:
    response = requests.get(f"{issuer}/.well-known/smart-configuration", timeout=10)
    response.raise_for_status()
    config: dict[str, Any] = response.json()
    return config


def register_client(issuer: str, metadata: dict[str, Any]) -> str:
    response = requests.post(f"{issuer}/reg", json=metadata, timeout=10)
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


def register_backend_client(issuer: str, alg: str, jwks: dict[str, Any] | None = None,
                            jwks_uri: str | None = None) -> str:
    metadata: dict[str, Any] = {
        "client_name": f"backend {alg}",
        "grant_types": ["client_credentials"],
        "response_types": [],
        "redirect_uris": [],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": alg,
    }
    metadata.update({"jwks": jwks} if jwks is not None else {"jwks_uri": jwks_uri})
    return register_client(issuer, metadata)


def register_app_client(issuer: str) -> str:
    return register_client(issuer, {
        "client_name": "public SMART app",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none",
    })


def client_assertion(client_id: str, token_url: str, key: PrivateKey, alg: str, kid: str, *,
                     lifetime: int = 300, jti: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": token_url, "iat": now, "exp": now + lifetime,
              "jti": jti or str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def backend_token(token_url: str, assertion: str, scope: str = "system/Patient.rs",
                  resource: str | None = None) -> requests.Response:
    data = {"grant_type": "client_credentials", "scope": scope, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion}
    if resource:
        data["resource"] = resource
    return requests.post(token_url, data=data, timeout=10)


def unverified_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def encode_launch(patient: str, encounter: str | None = None) -> str:
    context = {"patient": patient, **({"encounter": encounter} if encounter else {})}
    return base64.urlsafe_b64encode(json.dumps(context).encode()).decode().rstrip("=")


def authorize(authorize_url: str, params: dict[str, str], max_hops: int = 10) -> dict[str, str]:
    """Follows the authorization server's redirects (auto-login, auto-consent) up to the app's
    redirect_uri and returns that callback's query parameters (``code`` or ``error``)."""
    session = requests.Session()
    url = requests.Request("GET", authorize_url, params=params).prepare().url or authorize_url
    for _ in range(max_hops):
        response = session.get(url, allow_redirects=False, timeout=10)
        location = response.headers.get("Location")
        if response.status_code not in (302, 303) or not location:
            raise AssertionError(f"no redirect from {url}: {response.status_code} {response.text[:300]}")
        if location.startswith(REDIRECT_URI):
            return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
        url = urljoin(url, location)
    raise AssertionError("too many redirects")


def launch_params(client_id: str, aud: str, challenge: str | None, *, launch: str | None,
                  scope: str = "launch openid fhirUser patient/*.rs") -> dict[str, str]:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "scope": scope,
              "state": secrets.token_urlsafe(8), "aud": aud}
    if launch is not None:
        params["launch"] = launch
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return params


def exchange_code(token_url: str, client_id: str, code: str, verifier: str) -> requests.Response:
    return requests.post(token_url, data={"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": REDIRECT_URI, "client_id": client_id,
                                          "code_verifier": verifier}, timeout=10)
