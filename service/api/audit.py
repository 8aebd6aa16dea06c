# mypy: disable-error-code="untyped-decorator"
"""``/api/v1/audit``: who changed what (newest first); no bodies, names or tokens are recorded."""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint
from sqlalchemy import select

from service.api.context import authorize, current
from service.api.responses import AuditListSchema, errors
from service.fhir.errors import ApiError
from service.fhir.parse import query_int
from service.fhir.respond import json_response
from service.store.models import AuditRow

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="The audit trail")


@bp.route("", methods=["GET"])
@bp.response(200, AuditListSchema)
@errors(bp)
def audit_trail() -> Response:
    """Filter by ``resource_type``, ``resource_id`` and ``actor``; at most ``_count`` (100, max 1000)."""
    if authorize("AuditEvent", "s") is not None:
        raise ApiError(403, "the audit trail is not part of a patient compartment")
    query = select(AuditRow).order_by(AuditRow.id.desc())
    for name, column in (("resource_type", AuditRow.resource_type), ("resource_id", AuditRow.resource_id),
                         ("actor", AuditRow.actor)):
        if request.args.get(name):
            query = query.where(column == request.args[name])
    count = query_int("_count", 100, 0, 1000)
    with current().store.sessions() as session:
        rows = session.scalars(query.limit(count))
        entries = [{"at": r.at.isoformat() + "Z", "actor": r.actor, "action": r.action,
                    "resource_type": r.resource_type, "resource_id": r.resource_id, "version_id": r.version_id,
                    "request_id": r.request_id} for r in rows]
    return json_response({"entries": entries})
