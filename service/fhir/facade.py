"""The read-only FHIR façade at ``/fhir``: metadata, read, vread, history, search, $validate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request

from service import limits
from service.caller import audit_record, authorize, check_stored, current, may_see, principal, record
from service.errors import ApiError
from service.fhir import audit_events, bundles
from service.fhir.capability import capability_statement
from service.fhir.params import STORED
from service.fhir.respond import fhir_response
from service.fhir.search import parse
from service.ig import CONFORMANCE_TYPES
from service.store.reader import StoredResource
from service.store.resources import SearchQuery

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
STARTED = datetime.now(UTC).isoformat(timespec="seconds")
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


JSON_TYPES = ("json", "application/json", "application/fhir+json", "application/json+fhir")


@bp.before_request
def _format_check() -> None:
    wanted = request.args.get("_format", "json")
    if wanted not in JSON_TYPES:
        raise ApiError(406, f"_format={wanted} is not supported: this server speaks JSON only", expression="_format")
    accept = request.accept_mimetypes
    if accept.provided and accept.best_match(["application/fhir+json", "application/json"]) is None:
        raise ApiError(406, "this server returns application/fhir+json only", expression="Accept")


def base_url() -> str:
    return request.host_url.rstrip("/") + "/fhir"


def _known(rtype: str) -> None:
    if rtype not in STORED and rtype not in CONFORMANCE_TYPES:
        raise ApiError(404, f"resource type {rtype!r} is not supported here")


def _row_response(row: StoredResource) -> Response:
    headers = {"ETag": f'W/"{row.version_id}"',
               "Last-Modified": row.last_updated.replace(tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")}
    if request.headers.get("If-None-Match") == headers["ETag"]:
        return Response(status=304, headers=headers)
    return fhir_response(row.resource, headers=headers)


@bp.get("/metadata")
def metadata() -> Response:
    ctx = current()
    return fhir_response(capability_statement(ctx.package, base_url(), STARTED, ctx.verifier is not None))


def _read_row(rtype: str, rid: str, version: int | None = None, action: str = "read") -> StoredResource:
    """The stored row (a version, or the current one) if the caller may read it; else the 404 of a
    missing resource (also for a row outside a patient token's compartment) or 403 (no scope)."""
    authorize(rtype, "r", action)
    row = current().store.reader.read(rtype, rid, version)
    not_found = f"{rtype}/{rid}" + (f"/_history/{version}" if version else "") + " is not known"
    if row is None:
        raise ApiError(404, not_found)
    check_stored(rtype, "r", action, row.patient_id, rid, not_found)
    return row


@bp.get("/<rtype>/<rid>")
def read(rtype: str, rid: str) -> Response:
    if rtype == "AuditEvent":
        return fhir_response(audit_events.fhir_read(rid))
    _known(rtype)
    if rtype in CONFORMANCE_TYPES:
        found = current().package.read(rtype, rid)
        if found is None:
            raise ApiError(404, f"{rtype}/{rid} is not known")
        return fhir_response(found)
    row = _read_row(rtype, rid)
    record([audit_record("read", rtype, resource_id=rid, patient_id=row.patient_id)])
    return _row_response(row)


@bp.get("/<rtype>/<rid>/_history/<vid>")
def vread(rtype: str, rid: str, vid: str) -> Response:
    if rtype not in STORED:
        raise ApiError(404, f"no version history for {rtype!r}")
    try:
        version = limits.integer(vid, "vid", 1, limits.INT32_MAX)
    except limits.LimitError as err:
        raise ApiError(404, f"version {vid!r} is not known") from err
    row = _read_row(rtype, rid, version, "vread")
    record([audit_record("vread", rtype, resource_id=rid, version_id=row.version_id, patient_id=row.patient_id)])
    return _row_response(row)


@bp.get("/<rtype>/<rid>/_history")
def history(rtype: str, rid: str) -> Response:
    """The versions the caller may read, each decided from its own stored row (a patient token never
    sees the versions of a resource from when it belonged to another patient)."""
    if rtype not in STORED:
        raise ApiError(404, f"no version history for {rtype!r}")
    current_row = _read_row(rtype, rid, action="history")
    rows = [r for r in current().store.reader.history(rtype, rid) if may_see(rtype, r.patient_id)]
    record([audit_record("history", rtype, resource_id=rid, patient_id=current_row.patient_id)])
    return fhir_response(bundles.history(rows, base_url()))


@bp.route("/<rtype>", methods=["GET"])
@bp.route("/<rtype>/_search", methods=["POST"])
def search(rtype: str) -> Response:
    args = request.args.copy()
    if request.method == "POST":
        args.update(request.form)
    if rtype == "AuditEvent":
        return fhir_response(audit_events.fhir_search(args, base_url(), f"/fhir/{rtype}"))
    _known(rtype)
    if rtype in CONFORMANCE_TYPES:
        return fhir_response(bundles.conformance_search(current().package, rtype, args, base_url(), _lenient()))
    limit = authorize(rtype, "s", "search")
    parsed = parse(rtype, args, current().settings.page_size, _lenient())
    total, rows, included = 0, list[StoredResource](), list[tuple[dict[str, Any], str | None]]()
    if _restrict(parsed.query, rtype, limit):
        total, rows, referenced = current().store.reader.search(
            parsed.query, lambda r: may_see(rtype, r.patient_id, "s"), bundles.wanted(parsed.includes))
        included = [(r.resource, r.patient_id) for r in referenced if may_see(r.resource_type, r.patient_id)]
    # one AuditEvent per patient in the results (BALP), one without a patient when none is found
    found = {r.patient_id for r in rows if r.patient_id} | {p for _r, p in included if p}
    params = tuple(name.partition(":")[0] for name in args)
    record([audit_record("search", rtype, patient_id=p, params=params) for p in sorted(found)]
           or [audit_record("search", rtype, params=params)])
    return fhir_response(bundles.searchset(parsed, total, rows, [r for r, _p in included], base_url(),
                                           request.path, args))


def _lenient() -> bool:
    prefer = request.headers.get("Prefer", "").replace(" ", "").lower()
    return "handling=lenient" in prefer.split(";") or "handling=lenient" in prefer.split(",")


def _restrict(query: SearchQuery, rtype: str, limit: str | None) -> bool:
    """A patient-scoped token searches its own compartment only: another patient's criteria match
    nothing (exactly as for a patient that does not exist). False when nothing can match."""
    if limit is None:
        return True
    asked = query.ids if rtype == "Patient" else query.patients
    if asked and limit not in asked:
        return False
    if rtype == "Patient":
        query.ids = [limit]
    else:
        query.patients = [limit]
    return True


def _body_resource() -> tuple[dict[str, Any], str | None]:
    body = limits.load_json(request.get_data())  # whatever the Content-Type: the same limits (400)
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        raise ApiError(400, "body must be a FHIR resource or Parameters")
    profile = request.args.get("profile")
    if body["resourceType"] == "Parameters":
        given = body.get("parameter")
        params = {p.get("name"): p for p in given if isinstance(p, dict)} if isinstance(given, list) else {}
        resource = params.get("resource", {}).get("resource")
        named = params.get("profile", {})
        profile = profile or named.get("valueUri") or named.get("valueCanonical")
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise ApiError(400, "Parameters must carry a 'resource' parameter", expression="Parameters.parameter")
        body = resource
    if profile is not None and not isinstance(profile, str):
        raise ApiError(400, "profile must be a canonical URL", expression="profile")
    return body, profile


@bp.post("/$validate")
@bp.post("/<rtype>/$validate")
def validate(rtype: str | None = None) -> Response:
    principal()
    resource, profile = _body_resource()
    if rtype and resource.get("resourceType") != rtype:
        raise ApiError(400, f"the resource is a {resource.get('resourceType')}, not a {rtype}",
                       expression="resourceType")
    return fhir_response(current().validate(resource, profile))


@bp.route("/<path:anything>", methods=WRITE_METHODS)
def read_only(anything: str) -> Response:
    raise ApiError(405, "the FHIR façade is read-only; write through /api/v1", headers={"Allow": "GET"})
