"""CDS Hooks 2.0 client authentication: the JWT a CDS Client (an EHR) signs for every call.

The EHR signs a JWT (header ``alg``, ``kid``, ``typ`` JWT, optional ``jku``; claims ``iss``, ``aud`` = the
CDS Service endpoint URL, ``exp``, ``iat``, ``jti``) with its private key; its public keys are a JWK Set
at a URL. Trusted clients are configuration (``ETMI_CDS_CLIENTS``): each ``iss`` with the JWKS URLs it
may use. A ``jku`` header must be one of them, checked before any fetch (the spec's allowlist of ``iss``
and ``jku``), so a JWT can never make the service fetch from a URL it names; without ``jku`` the first
configured URL is used. Keys are fetched through ``JwksTokenVerifier`` (short timeouts, size cap, one
fetch at a time, failures remembered). Asymmetric algorithms only; a ``jti`` seen before (same ``iss``)
is a replay, refused until its ``exp`` (plus the leeway) has passed. The seen ids are kept by a ``JtiLedger``
(``service.store.cds_jti``: a database table), so a JWT accepted by one gunicorn process or host is refused
by every other one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from service.adapters.token_verifier import JwksTokenVerifier
from service.config import ConfigError
from service.security import ALGORITHMS, InvalidToken

MAX_ID = 255  # characters of an iss or jti at most (the ledger's key columns)


class JtiLedger(Protocol):
    """Where accepted (iss, jti) pairs are kept until they expire, shared by every process."""

    def claim(self, issuer: str, jti: str, expires: float, now: float) -> str:
        """``new`` (recorded now), ``replay`` (seen and not expired) or ``full`` (too many live ids)."""
        ...


def parse_clients(raw: str) -> dict[str, tuple[str, ...]]:
    """``ETMI_CDS_CLIENTS``: a JSON object ``{"<iss>": "<jwks url>" | ["<jwks url>", ...]}`` (or a file
    holding one). Empty: no client is trusted (every service call is 401)."""
    text = raw.strip()
    if text and not text.startswith("{"):
        try:
            with open(text, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as err:
            raise ConfigError(f"ETMI_CDS_CLIENTS: cannot read {text!r} ({type(err).__name__})") from None
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigError("ETMI_CDS_CLIENTS must be a JSON object {iss: jwks URL or [URLs]}") from None
    if not isinstance(value, dict):
        raise ConfigError("ETMI_CDS_CLIENTS must be a JSON object {iss: jwks URL or [URLs]}")
    out: dict[str, tuple[str, ...]] = {}
    for iss, urls in value.items():
        urls = [urls] if isinstance(urls, str) else urls
        if not iss or not isinstance(urls, list) or not urls or not all(
                isinstance(u, str) and u.startswith(("https://", "http://")) for u in urls):
            raise ConfigError(f"ETMI_CDS_CLIENTS[{iss!r}] must be an http(s) JWKS URL or a list of them")
        out[iss.rstrip("/")] = tuple(urls)
    return out


@dataclass(frozen=True)
class CdsClient:
    """A verified CDS Client call: who (``iss``, optional ``tenant``) and the JWT's id."""

    issuer: str
    jti: str
    tenant: str | None


class CdsClientVerifier:
    """Verifies CDS Client JWTs for one CDS Service endpoint URL (the ``aud``)."""

    def __init__(self, clients: Mapping[str, tuple[str, ...]], audience: str, ledger: JtiLedger,
                 leeway: int = 60, timeout: float = 3.0, clock: Callable[[], float] = time.time) -> None:
        self.clients = dict(clients)
        self.audience = audience
        self.ledger = ledger
        self.leeway = leeway
        self.clock = clock
        self._verifiers = {(iss, url): JwksTokenVerifier(iss, audience, url, leeway=leeway, timeout=timeout)
                           for iss, urls in self.clients.items() for url in urls}

    def verify(self, token: str) -> CdsClient:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as err:
            raise InvalidToken(f"not a JWT ({type(err).__name__})") from err
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken(f"JWT algorithm not allowed (use one of {', '.join(ALGORITHMS)})")
        raw_iss = unverified.get("iss")
        iss = raw_iss.rstrip("/") if isinstance(raw_iss, str) else ""
        urls = self.clients.get(iss)
        if not urls:
            raise InvalidToken("the JWT's iss is not a trusted CDS client")
        jku = header.get("jku")
        if jku is not None and jku not in urls:
            raise InvalidToken("the JWT's jku is not a JWKS URL configured for this iss")
        claims = self._verifiers[(iss, jku or urls[0])].verify(token).claims
        return self._once(claims)

    def _once(self, claims: dict[str, Any]) -> CdsClient:
        jti, iss, exp = claims.get("jti"), str(claims["iss"]).rstrip("/"), claims.get("exp")
        if not isinstance(jti, str) or not jti:
            raise InvalidToken("the JWT has no jti")
        if not isinstance(claims.get("iat"), (int, float)):
            raise InvalidToken("the JWT has no iat")
        if len(iss) > MAX_ID or len(jti) > MAX_ID:
            raise InvalidToken(f"the JWT's iss or jti is longer than {MAX_ID} characters")
        now = self.clock()
        expires = (float(exp) if isinstance(exp, (int, float)) else now + 300) + self.leeway
        claim = self.ledger.claim(iss, jti, expires, now)
        if claim == "replay":
            raise InvalidToken("the JWT's jti was used before (replay)")
        if claim != "new":
            raise InvalidToken("too many live CDS client JWTs")
        tenant = claims.get("tenant")
        return CdsClient(iss, jti, tenant if isinstance(tenant, str) else None)
