"""The dashboard page: the signed-in session's patient, read from the EHR with the user's token."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, make_response, render_template, request

from service.clinician import charts, measures
from service.clinician import dashboard as dash
from service.clinician import format as fmt
from service.clinician.flow import fresh_token
from service.clinician.pages import app_state, install_headers, refuse
from service.clinician.pending import unsent_for
from service.clinician.reader import EhrUnavailable, read_patient

log = logging.getLogger("etmi.clinician")
bp = Blueprint("clinician", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")
install_headers(bp)


@bp.get("/")
def dashboard() -> Response:
    state = app_state()
    sid = request.cookies.get(state.cookie, "")
    session = state.sessions.get(sid)
    if session is None:
        return refuse("expired", 401)
    token = fresh_token(sid, session)
    if token is None:
        state.sessions.end(sid)
        return refuse("expired", 401)
    try:
        resources = read_patient(session.iss, token, session.patient)
    except EhrUnavailable as exc:
        if exc.denied:
            return refuse("expired", 401)
        if exc.missing:
            return refuse("no-patient", 404, str(exc))
        log.warning("clinician dashboard: EHR read failed", extra={"event": "clinician_ehr_failed"})
        return refuse("ehr-unavailable", 502, str(exc))
    ehr = state.registry.for_issuer(session.iss)
    unsent = unsent_for(state.store, ehr.target if ehr else None, session.patient)
    board = dash.build(resources)
    return make_response(render_template("clinician/dashboard.html", board=board, unsent=unsent, m=measures,
                                         charts=charts, fmt=fmt, dash=dash,
                                         ehr_name=ehr.name if ehr else session.iss))
