"""SMART App Launch 2.0: EHR launch, standalone launch, the callback, token refresh and sign-out.

Authorization code with PKCE (S256) and a random ``state`` that is used once, bound to the browser by
a short-lived cookie; the tokens go into the server-side session (``sessions.py``) and never to the
browser. Every refusal is a page (``pages.refuse``), never a stack trace.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from urllib.parse import urlencode

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from service.adapters import smart_app
from service.clinician.pages import STATE_COOKIE, app_state, install_headers, refuse, set_cookie
from service.clinician.registry import STANDALONE_SCOPE, RegisteredEhr
from service.clinician.sessions import AppSession, PendingLaunch

log = logging.getLogger("etmi.clinician")
bp = Blueprint("clinician_flow", __name__)
install_headers(bp)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=")
    return verifier, challenge.decode("ascii")


def standalone_scope(scope: str) -> str:
    words = ["launch/patient" if w == "launch" else w for w in scope.split()]
    return " ".join(words) if "launch/patient" in words else STANDALONE_SCOPE


def _begin(ehr: RegisteredEhr, iss: str, launch: str | None) -> BaseResponse:
    try:
        endpoints = smart_app.discover(iss)
    except smart_app.SmartError as exc:
        log.warning("clinician launch: discovery failed", extra={"event": "clinician_discovery_failed"})
        return refuse("ehr-unavailable", 502, str(exc))
    verifier, challenge = pkce_pair()
    try:
        state = app_state().sessions.start_launch(PendingLaunch(iss, ehr.client_id, verifier, endpoints.token))
    except OverflowError:
        return refuse("busy", 503)
    params = {"response_type": "code", "client_id": ehr.client_id, "redirect_uri": callback_url(),
              "scope": ehr.scope if launch else standalone_scope(ehr.scope), "state": state, "aud": iss,
              "code_challenge": challenge, "code_challenge_method": "S256"}
    if launch:
        params["launch"] = launch
    response = redirect(endpoints.authorize + ("&" if "?" in endpoints.authorize else "?") + urlencode(params))
    set_cookie(response, STATE_COOKIE, state, max_age=int(app_state().sessions.launch_ttl))
    return response


def callback_url() -> str:
    return url_for("clinician_flow.callback", _external=True)


@bp.get("/launch")
def launch() -> BaseResponse:
    iss, launch_id = request.args.get("iss", "").strip(), request.args.get("launch", "").strip()
    if not iss or not launch_id:
        return refuse("bad-launch", 400, "An EHR launch needs the parameters iss and launch.")
    ehr = app_state().registry.for_issuer(iss)
    if ehr is None:
        log.warning("clinician launch refused: unknown iss", extra={"event": "clinician_unknown_iss"})
        return refuse("unknown-iss", 403)
    return _begin(ehr, iss.rstrip("/"), launch_id)


@bp.get("/standalone")
def standalone() -> BaseResponse:
    iss = request.args.get("iss", "").strip()
    registry = app_state().registry
    if not iss:
        from service.clinician.pages import picker
        return picker(registry.clients)
    ehr = registry.for_issuer(iss)
    if ehr is None:
        return refuse("unknown-iss", 403)
    return _begin(ehr, iss.rstrip("/"), None)


@bp.get("/callback")
def callback() -> BaseResponse:
    state = request.args.get("state", "")
    pending = app_state().sessions.take_launch(state) if state else None
    if pending is None or not secrets.compare_digest(request.cookies.get(STATE_COOKIE, ""), state):
        log.warning("clinician callback refused: bad state", extra={"event": "clinician_bad_state"})
        return refuse("bad-state", 400)
    if request.args.get("error"):
        kind = "refused" if request.args["error"] in ("access_denied", "consent_required") else "auth-error"
        return refuse(kind, 403, f"The authorization server answered: {request.args['error'][:60]}")
    try:
        tokens = smart_app.exchange_code(pending.token_url, pending.client_id, request.args.get("code", ""),
                                         pending.verifier, callback_url())
    except smart_app.SmartError as exc:
        return refuse("auth-error", 502, str(exc))
    patient = tokens.get("patient")
    if not isinstance(patient, str) or not patient:
        return refuse("no-patient", 400)
    session = AppSession(iss=pending.iss, client_id=pending.client_id, token_url=pending.token_url,
                         patient=patient, tokens=tokens, expires_at=expiry(tokens))
    sid = app_state().sessions.create(session)
    response = redirect(url_for("clinician.dashboard"))
    set_cookie(response, STATE_COOKIE, "", max_age=0)
    set_cookie(response, app_state().cookie, sid)
    return response


def expiry(tokens: dict[str, object]) -> float:
    lifetime = tokens.get("expires_in")
    seconds = float(lifetime) if isinstance(lifetime, int | float) else 300.0
    return time.time() + max(seconds - 10, 0)


def fresh_token(sid: str, session: AppSession) -> str | None:
    """The session's access token, refreshed when it expired; None when it cannot be (sign in again)."""
    if time.time() < session.expires_at:
        return str(session.tokens["access_token"])
    refresh_token = session.tokens.get("refresh_token")
    if not isinstance(refresh_token, str):
        return None
    try:
        tokens = smart_app.refresh(session.token_url, session.client_id, refresh_token)
    except smart_app.SmartError:
        return None
    session.tokens = {**session.tokens, **tokens}
    session.expires_at = expiry(tokens)
    app_state().sessions.save(sid, session)
    return str(tokens["access_token"])


@bp.post("/logout")
def logout() -> BaseResponse:
    state = app_state()
    if request.cookies.get(state.cookie):
        state.sessions.end(request.cookies.get(state.cookie))
    response = refuse("signed-out", 200)
    set_cookie(response, state.cookie, "", max_age=0)
    return response
