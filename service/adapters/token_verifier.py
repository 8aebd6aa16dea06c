"""Bearer JWT verification against an issuer's JWKS, discovered from its metadata (network I/O)."""

from __future__ import annotations

import threading
from typing import Any

import jwt

from service.security import ALGORITHMS, InvalidToken, Principal, parse_scopes


class JwksTokenVerifier:
    """Checks bearer JWTs against the JWKS of one issuer (discovered or configured)."""

    def __init__(self, issuer: str, audience: str = "", jwks_url: str = "") -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self._jwks_url = jwks_url
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                url = self._jwks_url or self._discover()
                self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=600, timeout=10)
            return self._client

    def _discover(self) -> str:
        """``jwks_uri`` from the issuer's metadata (fetched by PyJWT's client, like the JWKS itself)."""
        for path in ("/.well-known/openid-configuration", "/.well-known/smart-configuration"):
            try:
                metadata = jwt.PyJWKClient(self.issuer + path, cache_jwk_set=False, timeout=10).fetch_data()
            except jwt.PyJWKClientError:
                continue
            if isinstance(metadata, dict) and metadata.get("jwks_uri"):
                return str(metadata["jwks_uri"])
        raise InvalidToken("issuer metadata not reachable")

    def verify(self, token: str) -> Principal:
        if not self.issuer:
            raise InvalidToken("no token issuer configured (ETMI_AUTH_ISSUER)")
        try:
            key = self._jwks().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=ALGORITHMS, issuer=self.issuer,
                audience=self.audience or None, options={"require": ["exp", "iss"], "verify_aud": bool(self.audience)},
            )
        except jwt.PyJWTError as err:
            raise InvalidToken(type(err).__name__) from err
        scope = claims.get("scope", "")
        scopes = parse_scopes(scope if isinstance(scope, str) else " ".join(scope))
        subject = str(claims.get("sub") or claims.get("client_id") or "unknown")
        patient = claims.get("patient")
        return Principal(subject=subject, scopes=tuple(scopes), patient=str(patient) if patient else None,
                         claims=claims)
