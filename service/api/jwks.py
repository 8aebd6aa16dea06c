"""``/.well-known/jwks.json``: the public keys EHRs use to verify the service's client assertions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Response

from service.api.context import current
from service.config import Settings
from service.fhir.errors import ApiError
from service.fhir.respond import json_response

bp = Blueprint("jwks", __name__)


def load_public_jwks(settings: Settings) -> dict[str, Any] | None:
    """``ETMI_PUBLIC_JWKS`` (inline JSON or a file), else the keys of the sync targets' private keys."""
    spec = settings.public_jwks.strip()
    if spec:
        loaded: dict[str, Any] = json.loads(spec if spec.startswith("{") else Path(spec).read_text())
        return loaded
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
    return public_jwks(keys) if keys else None


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    found = current().public_jwks
    if found is None:
        raise ApiError(404, "no public keys configured (ETMI_PUBLIC_JWKS or sync targets with private keys)")
    return json_response(found, headers={"Cache-Control": "public, max-age=300"})
