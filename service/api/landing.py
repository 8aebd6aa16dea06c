"""``/``: a landing page linking what the service serves; ``/fhir`` and ``/api/v1`` answer with a pointer.

The page names only what exists in this app (the guide's pages and the clinician app when their routes
are registered). It loads nothing: no script, no external file (its CSP allows inline style only).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from service.fhir.respond import fhir_response, json_response

bp = Blueprint("landing", __name__, template_folder="templates")
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: (path, title, what it is); a path is shown when the app answers GET there.
LINKS = (
    ("/api/v1/docs", "API docs", "Swagger UI of /api/v1: send ETMI episodes, sessions, goals and scores"),
    ("/api/v1/openapi.json", "OpenAPI 3.1", "the machine-readable description of /api/v1"),
    ("/fhir/metadata", "FHIR R4 façade", "CapabilityStatement of the read-only FHIR R4 API at /fhir"),
    ("/guide", "Implementation guide", "one page per profile, Questionnaire, CodeSystem and ValueSet"),
    ("/api/v1/outbox", "Outbox", "what waits, failed or is dead-lettered on its way to the EHRs (system scopes)"),
    ("/api/v1/audit", "Audit trail", "every read, write and denial of patient data (system scopes)"),
    ("/fhir/AuditEvent", "Audit trail as FHIR", "the same as AuditEvent resources"),
    ("/clinician/", "Clinician app", "the SMART on FHIR app (launched from an EHR)"),
    ("/readyz", "Readiness", "database, migrations and profiles"),
)


def _served(path: str) -> bool:
    """The app answers GET ``path`` (through any rule, a redirect included)."""
    try:
        current_app.url_map.bind("localhost").match(path, method="GET")
    except RequestRedirect:
        return True
    except HTTPException:
        return False
    return True


@bp.get("/")
def landing() -> Response:
    links = [(path, title, text) for path, title, text in LINKS if _served(path)]
    html = render_template("landing.html", links=links, base=request.host_url.rstrip("/"))
    return Response(html, mimetype="text/html", headers={"Content-Security-Policy": PAGE_CSP})


@bp.get("/fhir")
@bp.get("/fhir/")
def fhir_base() -> Response:
    """The FHIR base has no read of its own: an informational OperationOutcome pointing at /fhir/metadata."""
    base = request.host_url.rstrip("/")
    outcome = {"resourceType": "OperationOutcome", "issue": [{
        "severity": "information", "code": "informational",
        "diagnostics": f"This is the FHIR R4 base {base}/fhir (read-only). Start with GET {base}/fhir/metadata "
                       f"(CapabilityStatement); resources are at {base}/fhir/<type>[/<id>]. Landing page: {base}/"}]}
    return fhir_response(outcome, 200, {"Link": f'<{base}/fhir/metadata>; rel="describedby"'})


@bp.get("/api/v1")
@bp.get("/api/v1/")
def api_base() -> Response:
    base = request.host_url.rstrip("/")
    return json_response({
        "description": "ETMI API v1: ETMI clinic data in, FHIR R4 out. See the OpenAPI document or the docs page.",
        "openapi": f"{base}/api/v1/openapi.json", "docs": f"{base}/api/v1/docs",
        "episodes": f"{base}/api/v1/episodes", "fhir": f"{base}/fhir/metadata", "landing": f"{base}/",
    })
