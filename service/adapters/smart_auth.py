"""Authorization for EHR targets: none, HTTP Basic, a static bearer token, SMART Backend Services.

SMART Backend Services (client_credentials with ``private_key_jwt``): the client assertion is signed
RS384 or ES384 with the configured ``kid``, lives at most 300 s and has a fresh ``jti`` each time. The
access token is cached and renewed ``renew_before`` seconds before it expires, or at once after a 401
(``invalidate``). ``public_jwks`` gives the JWK Set the service publishes for the EHR to verify it.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.sync.ports import AuthError, RetryableError, TokenProvider
from service.sync.targets import AuthConfig

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300


class NoAuth:
    def authorization(self) -> str | None:
        return None

    def invalidate(self) -> None:
        return None


class StaticAuth:
    """A fixed header value: ``Bearer <token>`` or ``Basic <base64>``."""

    def __init__(self, value: str) -> None:
        self._value = value

    @classmethod
    def bearer(cls, token: str) -> StaticAuth:
        return cls(f"Bearer {token}")

    @classmethod
    def basic(cls, username: str, password: str) -> StaticAuth:
        raw = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return cls(f"Basic {raw}")

    def authorization(self) -> str | None:
        return self._value

    def invalidate(self) -> None:
        return None


def load_private_key(pem: str | bytes) -> Any:
    data = pem.encode() if isinstance(pem, str) else pem
    return serialization.load_pem_private_key(data, password=None)


def generate_private_key_pem(alg: str = "ES384") -> str:
    """A new PEM private key for ``alg`` (ES384: P-384; RS384: RSA 2048)."""
    key: Any = ec.generate_private_key(ec.SECP384R1()) if alg == "ES384" else rsa.generate_private_key(65537, 2048)
    return str(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption(),
    ).decode("ascii"))


def public_jwk(private_key_pem: str, kid: str, alg: str) -> dict[str, Any]:
    """The public JWK of a private key, with ``kid``, ``alg`` and ``use`` (PyJWT omits the first two)."""
    key = load_private_key(private_key_pem)
    algorithm: Any = jwt.algorithms.ECAlgorithm if alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
    jwk: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update({"kid": kid, "alg": alg, "use": "sig", "key_ops": ["verify"]})
    return jwk


def public_jwks(keys: list[tuple[str, str, str]]) -> dict[str, Any]:
    """``{"keys": [...]}`` for ``(private_key_pem, kid, alg)`` triples: serve it at the JWKS URL."""
    return {"keys": [public_jwk(pem, kid, alg) for pem, kid, alg in keys]}


class BackendServicesAuth:
    """SMART Backend Services token provider with caching and renewal. Thread-safe."""

    def __init__(
        self, token_url: str, client_id: str, private_key_pem: str, kid: str, alg: str = "ES384",
        scope: str = "system/*.cruds", jku: str | None = None, resource: str | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time, renew_before: float = 30.0, timeout: float = 15.0,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._key = load_private_key(private_key_pem)
        self.kid, self.alg, self.scope, self.jku, self.resource = kid, alg, scope, jku, resource
        self.session = session or requests.Session()
        self.clock, self.renew_before, self.timeout = clock, renew_before, timeout
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.fetches = 0

    def client_assertion(self) -> str:
        now = int(time.time())  # wall clock: the authorization server checks iat/exp against its own
        claims = {
            "iss": self.client_id, "sub": self.client_id, "aud": self.token_url,
            "iat": now, "exp": now + ASSERTION_LIFETIME, "jti": str(uuid.uuid4()),
        }
        headers = {"kid": self.kid, "typ": "JWT"}
        if self.jku:
            headers["jku"] = self.jku
        return jwt.encode(claims, self._key, algorithm=self.alg, headers=headers)

    def authorization(self) -> str | None:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at - self.renew_before:
                self._fetch()
            return f"Bearer {self._token}"

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _fetch(self) -> None:
        form = {
            "grant_type": "client_credentials", "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": self.client_assertion(),
        }
        if self.resource:  # RFC 8707 resource indicator, for servers that scope tokens by audience
            form["resource"] = self.resource
        try:
            response = self.session.post(self.token_url, data=form, timeout=self.timeout,
                                         headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise RetryableError(f"token endpoint: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(f"token endpoint: HTTP {response.status_code}", response.status_code)
        body = _json_object(response)
        token, lifetime = body.get("access_token"), body.get("expires_in", ASSERTION_LIFETIME)
        if response.status_code != 200 or not isinstance(token, str) or not token:
            error = body.get("error", "")
            error = error if isinstance(error, str) and error.isascii() and len(error) <= 64 else ""
            raise AuthError(f"token endpoint: HTTP {response.status_code} {error}".strip(), response.status_code)
        self.fetches += 1
        self._token = token
        valid = isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and 0 < lifetime < 86400
        self._expires_at = self.clock() + float(lifetime if valid else ASSERTION_LIFETIME)


def _json_object(response: requests.Response) -> dict[str, Any]:
    """The body as a JSON object; ``{}`` for anything else (an HTML error page, a list, bad JSON)."""
    try:
        value = response.json() if response.content else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def discover_token_url(fhir_base: str, session: requests.Session | None = None, timeout: float = 15.0) -> str:
    """``token_endpoint`` from ``<base>/.well-known/smart-configuration``."""
    s = session or requests.Session()
    try:
        response = s.get(f"{fhir_base.rstrip('/')}/.well-known/smart-configuration", timeout=timeout,
                         headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise RetryableError(f"smart-configuration: {type(exc).__name__}") from exc
    endpoint = _json_object(response).get("token_endpoint")
    if response.status_code != 200 or not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        raise AuthError(f"smart-configuration: HTTP {response.status_code}, no token_endpoint", response.status_code)
    return endpoint


def token_provider(auth: AuthConfig, fhir_base: str) -> TokenProvider:
    """The provider for one target's auth configuration."""
    if auth.kind == "basic":
        return StaticAuth.basic(auth.username or "", auth.password or "")
    if auth.kind == "bearer":
        return StaticAuth.bearer(auth.token or "")
    if auth.kind == "smart-backend":
        pem = auth.private_key_pem or Path(auth.private_key_file or "").read_text(encoding="ascii")
        token_url = auth.token_url or discover_token_url(fhir_base)
        return BackendServicesAuth(token_url, auth.client_id or "", pem, auth.kid or "etmi-fhir",
                                   auth.alg, auth.scope, auth.jku, auth.resource)
    return NoAuth()
