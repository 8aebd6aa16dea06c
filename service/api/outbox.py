# mypy: disable-error-code="untyped-decorator"
"""``/api/v1/outbox``: what waits to reach the EHRs, and replay of failed or dead entries (operators).

Each entry names its EHR ``target`` (``null``: every configured target); ``by_target`` counts the
entries per target and status, with ``"*"`` for the entries without a target."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from service.api.responses import OutboxListSchema, ReplayResultSchema, errors, query
from service.api.routes_common import require_json_body
from service.caller import current, operator
from service.errors import ApiError
from service.fhir.parse import query_int
from service.fhir.respond import json_response
from service.limits import INT32_MAX
from service.store.outbox import OutboxEntry, by_target_label

bp = Blueprint("outbox", __name__, url_prefix="/api/v1/outbox", description="The outbox towards the EHRs")
bp.before_request(require_json_body)
STATUSES = ("pending", "in-flight", "sent", "failed", "dead")


class ReplaySchema(Schema):
    ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=INT32_MAX)), required=True,
                      validate=validate.Length(min=1, max=1000))


def operator_outcome(outcome: dict[str, Any] | None) -> dict[str, Any] | None:
    """What an operator needs of the EHR's (or the worker's) OperationOutcome: each issue's severity, code
    and expression. Diagnostics, details text and extensions stay out: they can quote identifiers."""
    if not isinstance(outcome, dict):
        return None
    issues = []
    for issue in outcome.get("issue") or []:
        if isinstance(issue, dict):
            kept = {k: issue[k] for k in ("severity", "code") if isinstance(issue.get(k), str)}
            paths = [p for p in issue.get("expression") or [] if isinstance(p, str)]
            issues.append({**kept, "expression": paths} if paths else kept)
    return {"resourceType": "OperationOutcome", "issue": issues}


def _summary(row: OutboxEntry) -> dict[str, Any]:
    """An entry without its FHIR body (bodies never leave through this endpoint) nor the diagnostics text
    of its outcome; ``last_error`` holds status and issue codes only (``sync.push.safe_summary``)."""
    return {"id": row.id, "patient_key": row.patient_key, "target": row.target, "resource_type": row.resource_type,
            "local_id": row.local_id, "operation": row.operation, "status": row.status, "attempts": row.attempts,
            "next_attempt_at": row.next_attempt_at.isoformat() + "Z", "last_error": row.last_error,
            "outcome": operator_outcome(row.outcome)}


@bp.route("", methods=["GET"])
@bp.response(200, OutboxListSchema)
@errors(bp, parameters=[
    query("status", f"comma-separated, among {', '.join(STATUSES)} (default failed,dead)"),
    query("target", "an EHR target name"),
    query("_count", "at most this many entries (default 100)", type="integer", minimum=0, maximum=1000)])
def list_entries() -> Response:
    """Entries by ``status`` (default: failed and dead) and ``target`` (default: all), newest first, at
    most ``_count`` (100)."""
    operator("Bundle", "s", "search")
    wanted = request.args.get("status", "failed,dead").split(",")
    if not set(wanted) <= set(STATUSES):
        raise ApiError(400, f"status must be among {', '.join(STATUSES)}", expression="status")
    count = query_int("_count", 100, 0, 1000)
    outbox = current().store.outbox
    found = outbox.list(wanted, count, target=request.args.get("target") or None, newest_first=True)
    entries = [_summary(e) for e in found]
    return json_response({"counts": outbox.counts(), "by_target": by_target_label(outbox.counts_by_target()),
                          "entries": entries})


@bp.route("/replay", methods=["POST"])
@bp.arguments(ReplaySchema())
@bp.response(200, ReplayResultSchema)
@errors(bp, write=True)
def replay(payload: dict[str, Any]) -> Response:
    """Queue failed or dead entries again, now, with a fresh attempt count."""
    operator("Bundle", "u", "update")
    replayed = current().store.outbox.replay(payload["ids"])
    return json_response({"replayed": replayed})
