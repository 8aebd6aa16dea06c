"""The caller context of a request, below both ``api/`` and ``fhir/``: what a request handler needs (the
``Context`` of ``service/wiring.py``, built once; ``current()`` returns it), who is calling (``principal()``),
what their scopes allow (``authorize`` and friends: a refusal is audited and raised as an ``ApiError``) and the
audit records of what they did. Only this reads Flask's request scope; the ``Context`` and the error model
(``service/errors.py``) are Flask-free, so a use-case needs neither Flask nor this module."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol, TypeVar

from flask import current_app, g, request

from service.errors import ApiError
from service.security import DEV_PRINCIPAL, InvalidToken, Principal, authz, bearer_token
from service.security.audit_event import DENIED, SUCCESS, AuditRecord
from service.store import audit
from service.store.db import utcnow
from service.wiring import Context


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


def authorize(resource_type: str, interaction: str, action: str | None = None) -> str | None:
    """Check the scopes for one interaction (c, r, u, d, s); return the patient limit, if any.

    A refusal is audited (as ``action``, default from the interaction) and answered 403."""
    try:
        return authz.scope_limit(principal(), resource_type, interaction)
    except authz.Denied as err:
        raise refuse(err, action or _ACTIONS.get(interaction, "read")) from err


def authorize_episode(interaction: str, action: str) -> str | None:
    """``authorize`` for a whole episode: the scopes must grant ``interaction`` on every type it carries."""
    try:
        return authz.scope_limit_all(principal(), authz.EPISODE_TYPES, interaction)
    except authz.Denied as err:
        raise refuse(err, action) from err


def operator(resource_type: str, interaction: str, action: str, *, system_only: bool = False) -> None:
    """Operator endpoints (outbox, audit trail): ``user/`` or ``system/`` scopes (``system/`` only when
    ``system_only``); a refusal is audited and answered 403."""
    try:
        authz.check_operator(principal(), resource_type, interaction, system_only=system_only)
    except authz.Denied as err:
        raise refuse(err, action) from err


_ACTIONS = {"c": "create", "r": "read", "u": "update", "d": "update", "s": "search"}


def check_stored(resource_type: str, interaction: str, action: str, stored_patient: str | None,
                 resource_id: str | None, not_found: str) -> None:
    """``authz.check_stored`` for the caller: a denial is audited and answered (404 when hidden)."""
    try:
        authz.check_stored(principal(), resource_type, interaction, stored_patient, resource_id, not_found)
    except authz.Denied as err:
        raise refuse(err, action) from err


def may_see(resource_type: str, stored_patient: str | None, interaction: str = "r") -> bool:
    return authz.may_see(principal(), resource_type, stored_patient, interaction)


def audit_record(action: str, resource_type: str, *, resource_id: str | None = None, version_id: int | None = None,
                 patient_id: str | None = None, outcome: str = SUCCESS, params: tuple[str, ...] = ()) -> AuditRecord:
    """What the caller did, with the agent taken from the token."""
    who = principal()
    client = who.claims.get("client_id")
    issuer = who.claims.get("iss")
    return AuditRecord(at=utcnow(), actor=who.subject, action=action, resource_type=resource_type,
                       resource_id=resource_id, version_id=version_id, patient_id=patient_id,
                       request_id=request_id(), outcome=outcome,
                       client=str(client) if client and str(client) != who.subject else None,
                       issuer=str(issuer) if isinstance(issuer, str) else None, params=params)


class _WithAgent(Protocol):
    """A write's caller (``service.episodes.model.Caller``): a dataclass naming the actor and its agents."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @property
    def actor(self) -> str: ...


CallerT = TypeVar("CallerT", bound=_WithAgent)


def with_agent(caller: CallerT) -> CallerT:
    """A write's ``Caller`` with the token's client and issuer (the agents of its AuditEvents)."""
    client, issuer = principal().claims.get("client_id"), principal().claims.get("iss")
    return dataclasses.replace(caller, client=str(client) if client and str(client) != caller.actor else None,
                               issuer=issuer if isinstance(issuer, str) else None)


def record(records: list[AuditRecord]) -> None:
    """Store audit records now (reads, searches, denials: outside any write transaction)."""
    audit.record(current().store.sessions, records)


def refuse(err: authz.Denied, action: str) -> ApiError:
    """Audit a denial and turn it into the answer: 404 (like a missing resource), 403 or 409."""
    record([audit_record(action, err.resource_type or "-", resource_id=err.resource_id,
                         patient_id=err.patient_id, outcome=DENIED)])
    headers = {"WWW-Authenticate": 'Bearer error="insufficient_scope"'} if err.status == 403 else None
    return ApiError(err.status, err.reason, headers=headers, expression="patient" if err.status == 409 else None)


def actor() -> str:
    return principal().subject


def request_id() -> str:
    return str(g.get("request_id", "-"))
