"""Bearer JWT access tokens and SMART scopes; the JWKS-backed verifier is ``service.adapters.token_verifier``.

Scopes: SMART v2 (``system/*.rs``, ``user/*.cruds``, ``patient/Observation.rs``) and the v1 forms
``.read``, ``.write`` and ``.*``. A ``patient/`` scope grants access only to the compartment of the
token's ``patient`` claim. Scopes with a ``?query`` restriction are not honoured (ignored).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("etmi.auth")

_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|c?r?u?d?s?)$")
_V1 = {"*": "cruds", "read": "rs", "write": "cud"}
ALGORITHMS = ["RS256", "RS384", "ES256", "ES384"]


@dataclass(frozen=True)
class Scope:
    context: str
    resource_type: str
    permissions: frozenset[str]

    def grants(self, resource_type: str, interaction: str) -> bool:
        return self.resource_type in ("*", resource_type) and interaction in self.permissions


def parse_scopes(text: str) -> list[Scope]:
    scopes = []
    for word in text.split():
        match = _SCOPE.match(word)
        if match and match.group(3):
            perms = _V1.get(match.group(3), match.group(3))
            scopes.append(Scope(match.group(1), match.group(2), frozenset(perms)))
    return scopes


class Forbidden(Exception):
    """The token is valid but its scopes do not allow the interaction."""


@dataclass(frozen=True)
class Principal:
    """Who calls: ``subject`` for the audit trail, the scopes and the patient in context."""

    subject: str
    scopes: tuple[Scope, ...] = ()
    patient: str | None = None
    dev: bool = False
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    def patient_limit(self, resource_type: str, interaction: str) -> str | None:
        """None when unrestricted; the patient id when only a ``patient/`` scope allows this.

        Raises ``Forbidden`` when nothing allows it.
        """
        if self.dev:
            return None
        granting = [s for s in self.scopes if s.grants(resource_type, interaction)]
        if any(s.context in ("user", "system") for s in granting):
            return None
        if granting and self.patient:
            return self.patient
        raise Forbidden(f"scope does not allow {interaction!r} on {resource_type}")


DEV_PRINCIPAL = Principal(subject="dev-mode", scopes=(Scope("system", "*", frozenset("cruds")),), dev=True)


class InvalidToken(Exception):
    """Missing, malformed, expired or wrongly signed token."""


class TokenVerifier(Protocol):
    """Checks a bearer token and says who calls with which scopes (``adapters.token_verifier``)."""

    def verify(self, token: str) -> Principal: ...


def bearer_token(header: str | None) -> str:
    if not header:
        raise InvalidToken("missing bearer token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("authorization is not a bearer token")
    return token.strip()
