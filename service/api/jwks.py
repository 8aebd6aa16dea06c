"""``/.well-known/jwks.json``: the public keys EHRs use to verify the service's client assertions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Response

from service.caller import current
from service.config import ConfigError, Settings
from service.errors import ApiError
from service.fhir.respond import json_response

bp = Blueprint("jwks", __name__)
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")  # RFC 7518 private and symmetric key parts


def checked_public_jwks(value: Any) -> dict[str, Any]:
    """A JWK Set with public keys only; ``ConfigError`` naming ``ETMI_PUBLIC_JWKS`` for anything else."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise ConfigError('ETMI_PUBLIC_JWKS must be a JWK Set: {"keys": [...]}')
    for i, key in enumerate(value["keys"]):
        if not isinstance(key, dict) or not isinstance(key.get("kty"), str):
            raise ConfigError(f"ETMI_PUBLIC_JWKS: keys[{i}] is not a JWK (an object with kty)")
        found = [m for m in PRIVATE_MEMBERS if m in key]
        if found or key["kty"] == "oct":
            raise ConfigError(f"ETMI_PUBLIC_JWKS: keys[{i}] holds private or secret key material "
                              f"({', '.join(found) or 'kty oct'}): publish the public key only")
    return value


def load_public_jwks(settings: Settings) -> dict[str, Any] | None:
    """``ETMI_PUBLIC_JWKS`` (inline JSON or a file), else the keys of the sync targets' private keys."""
    spec = settings.public_jwks.strip()
    if spec:
        try:
            loaded = json.loads(spec if spec.startswith("{") else Path(spec).read_text())
        except (OSError, ValueError) as err:
            raise ConfigError(f"ETMI_PUBLIC_JWKS is neither a readable file nor JSON ({type(err).__name__})") from None
        return checked_public_jwks(loaded)
    if not settings.sync_targets.strip():
        return None
    from service.adapters.smart_auth import public_jwks
    from service.sync.targets import targets_from_spec

    targets = targets_from_spec(settings.sync_targets)
    keys = []
    for target in targets:
        auth = target.auth
        pem = auth.private_key_pem or (Path(auth.private_key_file).read_text() if auth.private_key_file else None)
        if pem and auth.kid and (pem, auth.kid, auth.alg) not in keys:
            keys.append((pem, auth.kid, auth.alg))
    return checked_public_jwks(public_jwks(keys)) if keys else None


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    found = current().public_jwks
    if found is None:
        raise ApiError(404, "no public keys configured (ETMI_PUBLIC_JWKS or sync targets with private keys)")
    return json_response(found, headers={"Cache-Control": "public, max-age=300"})
