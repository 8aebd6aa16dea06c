# mypy: disable-error-code="untyped-decorator"
"""The audit trail: ``/api/v1/audit`` (JSON listing); ``service/fhir/audit_events.py`` serves the same rows
(``service.store.audit``) as ``/fhir/AuditEvent`` (FHIR search and read). Both for ``system/`` scopes only.

Every read, search, write and denial of patient data is a row holding its FHIR R4 AuditEvent; no
bodies, names, identifiers, search values or tokens are recorded.
"""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from service.api.responses import AuditListSchema, errors, query
from service.caller import current
from service.fhir.audit_events import count, system_only
from service.fhir.respond import json_response
from service.store import audit

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="The audit trail")


@bp.route("", methods=["GET"])
@bp.response(200, AuditListSchema)
@errors(bp, parameters=[
    *(query(name, f"only entries with this {name}") for name in ("resource_type", "resource_id", "actor", "patient",
                                                                  "action")),
    query("outcome", "0 success, 4 denied"),
    query("_count", "at most this many entries (default 100)", type="integer", minimum=0, maximum=1000)])
def audit_trail() -> Response:
    """Filter by ``resource_type``, ``resource_id``, ``actor``, ``patient``, ``action`` and ``outcome``
    (0 success, 4 denied); newest first, at most ``_count`` (100, max 1000)."""
    system_only("s", "search")
    q = audit.AuditQuery(count=count(request.args.get("_count"), 100))
    for name, values in (("resource_type", q.resource_types), ("resource_id", q.resource_ids),
                         ("actor", q.actors), ("patient", q.patients), ("action", q.actions),
                         ("outcome", q.outcomes)):
        if request.args.get(name):
            values.append(request.args[name])
    _total, rows = current().store.audit_trail.search(q)
    entries = [{"id": r.id, "at": r.at.isoformat() + "Z", "actor": r.actor, "action": r.action,
                "outcome": r.outcome, "resource_type": r.resource_type, "resource_id": r.resource_id,
                "version_id": r.version_id, "patient_id": r.patient_id, "request_id": r.request_id,
                "audit_event": f"AuditEvent/{r.id}"} for r in rows]
    return json_response({"entries": entries})
