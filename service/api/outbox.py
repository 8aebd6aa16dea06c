# mypy: disable-error-code="untyped-decorator"
"""``/api/v1/outbox``: what waits to reach the EHRs, and replay of failed or dead entries (operators).

Each entry names its EHR ``target`` (``null``: every configured target); ``by_target`` counts the
entries per target and status, with ``"*"`` for the entries without a target."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from service.api.context import authorize, current
from service.api.responses import OutboxListSchema, ReplayResultSchema, errors
from service.api.routes_common import require_json_body
from service.fhir.errors import ApiError
from service.fhir.parse import query_int
from service.fhir.respond import json_response
from service.limits import INT32_MAX
from service.store.models import OutboxRow
from service.store.outbox import by_target_label

bp = Blueprint("outbox", __name__, url_prefix="/api/v1/outbox", description="The outbox towards the EHRs")
bp.before_request(require_json_body)
STATUSES = ("pending", "in-flight", "sent", "failed", "dead")


class ReplaySchema(Schema):
    ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=INT32_MAX)), required=True,
                      validate=validate.Length(min=1, max=1000))


def _summary(row: OutboxRow) -> dict[str, Any]:
    """An entry without its FHIR body (bodies never leave through this endpoint)."""
    return {"id": row.id, "patient_key": row.patient_key, "target": row.target, "resource_type": row.resource_type,
            "local_id": row.local_id, "operation": row.operation, "status": row.status, "attempts": row.attempts,
            "next_attempt_at": row.next_attempt_at.isoformat() + "Z", "last_error": row.last_error,
            "outcome": row.outcome}


@bp.route("", methods=["GET"])
@bp.response(200, OutboxListSchema)
@errors(bp)
def list_entries() -> Response:
    """Entries by ``status`` (default: failed and dead) and ``target`` (default: all), newest first, at
    most ``_count`` (100)."""
    if authorize("Bundle", "s") is not None:
        raise ApiError(403, "the outbox is not part of a patient compartment")
    wanted = request.args.get("status", "failed,dead").split(",")
    if not set(wanted) <= set(STATUSES):
        raise ApiError(400, f"status must be among {', '.join(STATUSES)}", expression="status")
    count = query_int("_count", 100, 0, 1000)
    query = select(OutboxRow).where(OutboxRow.status.in_(wanted))
    if target := request.args.get("target"):
        query = query.where(OutboxRow.target == target)
    outbox = current().store.outbox
    with current().store.sessions() as session:
        entries = [_summary(r) for r in session.scalars(query.order_by(OutboxRow.id.desc()).limit(count))]
    return json_response({"counts": outbox.counts(), "by_target": by_target_label(outbox.counts_by_target()),
                          "entries": entries})


@bp.route("/replay", methods=["POST"])
@bp.arguments(ReplaySchema)
@bp.response(200, ReplayResultSchema)
@errors(bp, write=True)
def replay(payload: dict[str, Any]) -> Response:
    """Queue failed or dead entries again, now, with a fresh attempt count."""
    if authorize("Bundle", "u") is not None:
        raise ApiError(403, "the outbox is not part of a patient compartment")
    replayed = current().store.outbox.replay(payload["ids"])
    return json_response({"replayed": replayed})
