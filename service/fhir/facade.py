"""The read-only FHIR façade at ``/fhir``: metadata, read, vread, history, search, $validate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Blueprint, Response, request

from service import limits
from service.api.context import authorize, current, principal
from service.fhir import bundles
from service.fhir.capability import capability_statement
from service.fhir.errors import ApiError
from service.fhir.params import STORED
from service.fhir.respond import fhir_response
from service.fhir.search import parse
from service.ig import CONFORMANCE_TYPES
from service.store import resources
from service.store.models import FhirResourceRow

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


def _row_response(row: FhirResourceRow) -> Response:
    headers = {"ETag": f'W/"{row.version_id}"',
               "Last-Modified": row.last_updated.replace(tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")}
    if request.headers.get("If-None-Match") == headers["ETag"]:
        return Response(status=304, headers=headers)
    return fhir_response(row.resource, headers=headers)


@bp.get("/metadata")
def metadata() -> Response:
    ctx = current()
    return fhir_response(capability_statement(ctx.package, base_url(), STARTED, ctx.verifier is not None))


def _read_row(rtype: str, rid: str, version: int | None = None) -> FhirResourceRow:
    limit = authorize(rtype, "r")
    with current().store.sessions() as session:
        row = resources.read(session, rtype, rid, version)
    if row is None:
        raise ApiError(404, f"{rtype}/{rid}" + (f"/_history/{version}" if version else "") + " is not known")
    if limit is not None and row.patient_id != limit:
        raise ApiError(403, "the token's patient does not match this resource")
    return row


@bp.get("/<rtype>/<rid>")
def read(rtype: str, rid: str) -> Response:
    _known(rtype)
    if rtype in CONFORMANCE_TYPES:
        found = current().package.read(rtype, rid)
        if found is None:
            raise ApiError(404, f"{rtype}/{rid} is not known")
        return fhir_response(found)
    return _row_response(_read_row(rtype, rid))


@bp.get("/<rtype>/<rid>/_history/<vid>")
def vread(rtype: str, rid: str, vid: str) -> Response:
    if rtype not in STORED:
        raise ApiError(404, f"no version history for {rtype!r}")
    try:
        version = limits.integer(vid, "vid", 1, limits.INT32_MAX)
    except limits.LimitError as err:
        raise ApiError(404, f"version {vid!r} is not known") from err
    return _row_response(_read_row(rtype, rid, version))


@bp.get("/<rtype>/<rid>/_history")
def history(rtype: str, rid: str) -> Response:
    if rtype not in STORED:
        raise ApiError(404, f"no version history for {rtype!r}")
    _read_row(rtype, rid)
    with current().store.sessions() as session:
        rows = resources.history(session, rtype, rid)
    return fhir_response(bundles.history(rows, base_url()))


@bp.route("/<rtype>", methods=["GET"])
@bp.route("/<rtype>/_search", methods=["POST"])
def search(rtype: str) -> Response:
    _known(rtype)
    args = request.args.copy()
    if request.method == "POST":
        args.update(request.form)
    if rtype in CONFORMANCE_TYPES:
        return fhir_response(bundles.conformance_search(current().package, rtype, args, base_url(), _lenient()))
    limit = authorize(rtype, "s")
    parsed = parse(rtype, args, current().settings.page_size, _lenient())
    _restrict(parsed.query, rtype, limit)
    with current().store.sessions() as session:
        total, rows = resources.search(session, parsed.query)
        included = bundles.included(session, rows, parsed.includes, limit)
    return fhir_response(bundles.searchset(parsed, total, rows, included, base_url(), request.path, args))


def _lenient() -> bool:
    prefer = request.headers.get("Prefer", "").replace(" ", "").lower()
    return "handling=lenient" in prefer.split(";") or "handling=lenient" in prefer.split(",")


def _restrict(query: resources.SearchQuery, rtype: str, limit: str | None) -> None:
    """A patient-scoped token searches its own compartment only."""
    if limit is None:
        return
    if rtype == "Patient":
        if query.ids and set(query.ids) != {limit}:
            raise ApiError(403, "the token's patient does not match the searched patient")
        query.ids = [limit]
        return
    if query.patients and set(query.patients) != {limit}:
        raise ApiError(403, "the token's patient does not match the searched patient")
    query.patients = [limit]


def _body_resource() -> tuple[dict[str, Any], str | None]:
    try:
        body = orjson.loads(request.get_data())
    except orjson.JSONDecodeError as err:
        raise ApiError(400, f"body is not JSON: {err.msg}") from err
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
