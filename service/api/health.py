"""``/healthz`` (the process answers) and ``/readyz`` (database, profiles, migrations)."""

from __future__ import annotations

from flask import Blueprint, Response

from service.caller import current
from service.errors import ApiError
from service.fhir.respond import json_response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return json_response({"status": "ok", "auth_mode": current().settings.auth_mode})


@bp.get("/readyz")
def readyz() -> Response:
    ctx = current()
    reachable = ctx.store.reachable()
    checks = {
        "database": reachable,
        "migrations": reachable and ctx.store.migrations_current(),
        "profiles": ctx.package.loaded,
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise ApiError(503, f"not ready: {', '.join(failed)}", headers={"Retry-After": "5"})
    return json_response({"status": "ready", "checks": checks})
