"""Bearer JWT verification against the configured issuer's JWKS, discovered from its metadata (network I/O).

Bounded by design: a token whose ``iss`` is not the configured issuer (or whose ``alg`` is not allowed)
is refused before any network call; discovery and JWKS fetches use short timeouts and stop at the first
timeout; at most one fetch runs at a time (other requests wait for it, then use its result); after a
fetch, success or failure, the next one waits ``refresh_interval`` seconds, so a burst of bad tokens
(unknown ``kid``, hanging issuer) costs one fetch, not one each. Keys are refreshed after ``keys_ttl``.
``exp``/``nbf``/``iat`` allow ``leeway`` seconds of clock skew; ``aud`` is always checked.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import orjson
import requests
import urllib3

from service import limits
from service.security import ALGORITHMS, InvalidToken, Principal, parse_scopes

METADATA_PATHS = ("/.well-known/openid-configuration", "/.well-known/smart-configuration")
MAX_DOCUMENT = 512 * 1024  # bytes of issuer metadata or JWKS read at most


class Unreachable(InvalidToken):
    """The issuer did not answer in time (or refused the connection): no point trying another path."""


class JwksTokenVerifier:
    """Checks bearer JWTs against the JWKS of one issuer (discovered or configured)."""

    def __init__(
        self, issuer: str, audience: str = "", jwks_url: str = "", leeway: int = 60, timeout: float = 3.0,
        refresh_interval: float = 30.0, keys_ttl: float = 600.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.leeway = leeway
        self.timeout = timeout
        self.refresh_interval = refresh_interval
        self.keys_ttl = keys_ttl
        self.clock = clock
        self.fetches = 0  # HTTP requests sent to the issuer (metadata and JWKS)
        self._jwks_url = jwks_url
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._loaded_at = -math.inf
        self._tried_at = -math.inf
        self._lock = threading.Lock()
        self._session = requests.Session()

    # -- keys ----------------------------------------------------------------------------------------
    def _key(self, kid: str | None) -> jwt.PyJWK:
        key = self._known(kid) if self.clock() - self._loaded_at < self.keys_ttl else None
        if key is not None:
            return key
        with self._lock:  # one fetch at a time; waiters reuse its result
            if self.clock() - self._tried_at >= self.refresh_interval:
                self._tried_at = self.clock()
                self._load()
            key = self._known(kid)  # stale keys stay usable while the issuer cannot be reached
        if key is None:
            raise InvalidToken("no matching signing key from the issuer")
        return key

    def _known(self, kid: str | None) -> jwt.PyJWK | None:
        keys = self._keys
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))
        return keys.get(kid)

    def _load(self) -> None:
        try:
            url = self._jwks_url or self._discover()
            found = jwt.PyJWKSet.from_dict(self._get(url))
        except (InvalidToken, jwt.PyJWKSetError, jwt.PyJWKError, ValueError):
            return  # remembered through _tried_at: no new fetch before refresh_interval
        self._keys = {k.key_id: k for k in found.keys if k.public_key_use in (None, "sig")}
        self._loaded_at = self.clock()

    def _discover(self) -> str:
        """``jwks_uri`` from the issuer's metadata; a timeout or connection error ends the search."""
        for path in METADATA_PATHS:
            try:
                metadata = self._get(self.issuer + path)
            except Unreachable:
                break
            except InvalidToken:
                continue
            if isinstance(metadata.get("jwks_uri"), str):
                self._jwks_url = metadata["jwks_uri"]
                return self._jwks_url
        raise InvalidToken("issuer metadata not reachable")

    def _get(self, url: str) -> dict[str, Any]:
        self.fetches += 1
        deadline = time.monotonic() + 2 * self.timeout  # a body dripped byte by byte ends here too
        chunks: list[bytes] = []
        try:
            with self._session.get(url, timeout=(self.timeout, self.timeout), stream=True,
                                   allow_redirects=False, headers={"Accept": "application/json"}) as response:
                ok = response.status_code == 200
                while ok and (chunk := response.raw.read1(16384, decode_content=True)):  # one recv at a time
                    chunks.append(chunk)
                    if sum(map(len, chunks)) > MAX_DOCUMENT or time.monotonic() > deadline:
                        raise Unreachable("issuer document too large or too slow")
        except (requests.Timeout, requests.ConnectionError, urllib3.exceptions.HTTPError) as err:
            raise Unreachable(f"issuer unreachable ({type(err).__name__})") from err
        except (requests.RequestException, OSError) as err:
            raise InvalidToken(f"issuer request failed ({type(err).__name__})") from err
        body = b"".join(chunks)
        if not ok:
            raise InvalidToken("issuer document not available")
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as err:
            raise InvalidToken("issuer document is not JSON") from err
        if not isinstance(value, dict):
            raise InvalidToken("issuer document is not a JSON object")
        return value

    # -- tokens --------------------------------------------------------------------------------------
    def verify(self, token: str) -> Principal:
        if not self.issuer:
            raise InvalidToken("no token issuer configured (ETMI_AUTH_ISSUER)")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as err:
            raise InvalidToken(type(err).__name__) from err
        if not isinstance(unverified.get("iss"), str) or unverified["iss"].rstrip("/") != self.issuer:
            raise InvalidToken("token from another issuer")  # refused before any network call
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken("token algorithm not allowed")
        kid = header.get("kid")
        key = self._key(kid if isinstance(kid, str) else None)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=ALGORITHMS, issuer=unverified["iss"], audience=self.audience,
                leeway=self.leeway, options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as err:
            raise InvalidToken(type(err).__name__) from err
        return _principal(claims)


def _principal(claims: dict[str, Any]) -> Principal:
    scope = claims.get("scope", "")
    if isinstance(scope, list) and all(isinstance(s, str) for s in scope):
        scope = " ".join(scope)
    if not isinstance(scope, str):
        raise InvalidToken("the scope claim must be a string or a list of strings")
    patient = claims.get("patient")
    if patient is not None and not isinstance(patient, str):
        raise InvalidToken("the patient claim must be a string")
    subject = claims.get("sub") or claims.get("client_id") or "unknown"
    for name in ("sub", "client_id", "patient"):  # audited: no NUL, no longer than the audit columns
        if isinstance(claims.get(name), str):
            try:
                limits.identifier(claims[name], name, limits.IDENTIFIER_MAX)
            except limits.LimitError as err:
                raise InvalidToken(f"the {name} claim is not a usable id") from err
    return Principal(subject=str(subject), scopes=tuple(parse_scopes(scope)), patient=patient or None,
                     claims=claims)
