"""What a request handler needs, wired once by ``create_app``: ``current()`` returns it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, request

from service.config import Settings
from service.fhir.errors import ApiError
from service.ig import Package
from service.security import DEV_PRINCIPAL, Forbidden, InvalidToken, Principal, TokenVerifier, bearer_token
from service.store import Store

Validate = Callable[[dict[str, Any], str | None], dict[str, Any]]


@dataclass
class Context:
    settings: Settings
    store: Store
    package: Package
    verifier: TokenVerifier | None
    validate: Validate
    public_jwks: dict[str, Any] | None = None
    target_names: tuple[str, ...] = ()  # the sync targets (ETMI_SYNC_TARGETS): one outbox row each


def current() -> Context:
    ctx: Context = current_app.extensions["etmi"]
    return ctx


def principal() -> Principal:
    """The caller, authenticated once per request (401 when the token is missing or invalid)."""
    found: Principal | None = g.get("principal")
    if found is not None:
        return found
    ctx = current()
    if ctx.verifier is None:
        g.principal = DEV_PRINCIPAL
        return DEV_PRINCIPAL
    try:
        g.principal = ctx.verifier.verify(bearer_token(request.headers.get("Authorization")))
    except InvalidToken as err:
        raise ApiError(401, f"authentication required: {err}",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from err
    return g.principal  # type: ignore[no-any-return]


def authorize(resource_type: str, interaction: str) -> str | None:
    """Check the scopes for one interaction (c, r, u, d, s); return the patient limit, if any."""
    who = principal()
    try:
        return who.patient_limit(resource_type, interaction)
    except Forbidden as err:
        raise ApiError(403, str(err), headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'}) from err


def actor() -> str:
    return principal().subject


def request_id() -> str:
    return str(g.get("request_id", "-"))
