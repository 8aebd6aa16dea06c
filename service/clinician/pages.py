"""The app's shared state, its cookies, its Content-Security-Policy and its refusal pages."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Blueprint, Response, current_app, make_response, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from service.clinician.registry import RegisteredEhr, Registry
from service.clinician.sessions import SessionStore
from service.store import Store

EXTENSION = "etmi_clinician"
STATE_COOKIE = "etmi_clinician_state"


@dataclass
class ClinicianState:
    registry: Registry
    secret: Callable[[], bytes]  # the deployment's key, read on the app's first use (not at start-up)
    store: Store
    https: bool
    cookie: str = "etmi_clinician"
    _sessions: SessionStore | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def sessions(self) -> SessionStore:
        with self._lock:
            if self._sessions is None:
                self._sessions = SessionStore(self.secret())
            return self._sessions


def app_state() -> ClinicianState:
    state: ClinicianState = current_app.extensions[EXTENSION]
    return state


# kind: (HTTP title, explanation); every refusal the app can show
MESSAGES: dict[str, tuple[str, str]] = {
    "unknown-iss": ("This EHR is not registered",
                    "The app was launched by an EHR it does not know (its FHIR address is not in the service's "
                    "configuration). Ask your administrator to register it."),
    "bad-launch": ("The launch was incomplete", "Open the app again from the patient's chart in your EHR."),
    "bad-state": ("This sign-in link is not valid",
                  "The sign-in did not start here, was already used, or took too long. Open the app again "
                  "from the patient's chart in your EHR."),
    "refused": ("Access was not granted",
                "The app was not allowed to read this patient's record. Open it again and allow access, or "
                "ask your administrator."),
    "auth-error": ("Sign-in failed", "The EHR's sign-in service did not complete the sign-in."),
    "no-patient": ("No patient was selected", "Open the app from a patient's chart, or choose a patient."),
    "expired": ("Your session has ended",
                "For your patients' privacy the app signs you out after a while. Open it again from the "
                "patient's chart in your EHR."),
    "ehr-unavailable": ("The EHR could not be reached", "Try again in a moment."),
    "busy": ("The app is busy", "Too many sign-ins are in progress; try again in a moment."),
    "signed-out": ("You are signed out", "Open the app again from a patient's chart in your EHR."),
    "error": ("Something went wrong", "The page could not be shown. Try again, or open the app again from the EHR."),
}


def refuse(kind: str, status: int, detail: str | None = None) -> Response:
    title, text = MESSAGES[kind]
    response = make_response(render_template("clinician/message.html", kind=kind, title=title, text=text,
                                             detail=detail), status)
    return response


def picker(clients: tuple[RegisteredEhr, ...]) -> Response:
    return make_response(render_template("clinician/picker.html", clients=clients))


def set_cookie(response: BaseResponse, name: str, value: str, max_age: int | None = None) -> None:
    """``HttpOnly``, path ``/clinician``; ``SameSite=Lax``, ``Secure`` on https. An https service that
    registered EHR origins for an iframe sends ``SameSite=None; Secure; Partitioned`` instead: a Lax cookie
    is not sent inside another site's frame, so an embedded launch could never finish."""
    state = app_state()
    embedded = state.https and bool(state.registry.frame_origins())
    response.set_cookie(name, value, max_age=max_age, path="/clinician", httponly=True,
                        samesite="None" if embedded else "Lax", secure=state.https, partitioned=embedded)


def csp(frame_origins: tuple[str, ...]) -> str:
    ancestors = " ".join(frame_origins) if frame_origins else "'none'"
    return ("default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; "
            f"frame-ancestors {ancestors}")


def install_headers(bp: Blueprint) -> None:
    @bp.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = csp(app_state().registry.frame_origins())
        if request.endpoint and request.endpoint.endswith(".static"):
            response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    @bp.errorhandler(Exception)
    def failed(exc: Exception) -> Response | HTTPException:
        if isinstance(exc, HTTPException):
            return exc
        current_app.logger.error("clinician page failed: %s", type(exc).__name__,
                                 extra={"event": "clinician_error"})
        return refuse("error", 500)
