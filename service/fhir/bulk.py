"""FHIR Bulk Data ``$export`` (system level ``/fhir/$export`` and ``/fhir/Patient/$export``), for
``system/`` scopes only: kick-off (``Prefer: respond-async`` -> 202 + ``Content-Location``), status
polling (202 + ``X-Progress`` while running, then 200 with the manifest), NDJSON download, DELETE to
cancel. Jobs live in ``service.exchange.jobs`` (a directory every worker sees), not in this process.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, request, send_file

from service.caller import audit_record, current, operator, principal, record
from service.errors import ApiError
from service.exchange.jobs import Job, Jobs, bulk_root, manifest
from service.fhir.params import STORED
from service.fhir.respond import fhir_response

bp = Blueprint("bulk", __name__, url_prefix="/fhir")
FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
PARAMS = {"_outputFormat", "_since", "_type"}
#: Patient-level export: the types of the patient compartment this service stores.
COMPARTMENT = tuple(sorted(STORED))


def _jobs() -> Jobs:
    return Jobs(bulk_root(current().settings.database_url))


def _base() -> str:
    return request.host_url.rstrip("/") + "/fhir"


def _since() -> datetime | None:
    text = request.args.get("_since")
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"_since must be a FHIR instant (e.g. 2026-01-01T00:00:00Z), not {text[:40]!r}",
                       expression="_since") from None
    if value.tzinfo is None:
        raise ApiError(400, "_since must be an instant with a time zone", expression="_since")
    return value.astimezone(UTC).replace(tzinfo=None)


def _types() -> list[str]:
    asked = request.args.get("_type")
    if asked is None:
        return list(COMPARTMENT)
    types = [t.strip() for t in asked.split(",") if t.strip()]
    unknown = [t for t in types if t not in STORED]
    if unknown or not types:
        raise ApiError(400, f"_type: {', '.join(unknown) or '(empty)'} not exported here; the types are "
                            f"{', '.join(COMPARTMENT)}", expression="_type")
    return list(dict.fromkeys(types))


def _kick_off(patients_only: bool) -> Response:
    if "respond-async" not in request.headers.get("Prefer", ""):
        raise ApiError(400, "a Bulk Data kick-off needs the header Prefer: respond-async", expression="Prefer")
    for name in request.args:
        if name not in PARAMS:
            raise ApiError(400, f"parameter {name} is not supported by this $export", expression=name)
    if request.args.get("_outputFormat", FORMATS[0]) not in FORMATS:
        raise ApiError(400, f"_outputFormat must be one of {', '.join(FORMATS)}", expression="_outputFormat")
    types, since = _types(), _since()
    for rtype in types:
        operator(rtype, "r", "search", system_only=True)
    now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as the jobs table keeps it
    job = _jobs().create(principal().subject, request.url, types, since, patients_only, now)
    record([audit_record("search", rtype, params=("$export", *request.args)) for rtype in types])
    return Response(status=202, headers={"Content-Location": f"{_base()}/$export-status/{job.id}"})


@bp.get("/$export")
def system_export() -> Response:
    return _kick_off(patients_only=False)


@bp.get("/Patient/$export")
def patient_export() -> Response:
    return _kick_off(patients_only=True)


def _job(job_id: str) -> Job:
    operator("Patient", "r", "search", system_only=True)
    job = _jobs().get(job_id, principal().subject)
    if job is None:
        raise ApiError(404, f"export job {job_id[:40]!r} is not known (finished and deleted, or cancelled)")
    return job


@bp.get("/$export-status/<job_id>")
def status(job_id: str) -> Response:
    job = _jobs().advance(_job(job_id), current().store.sessions)
    if not job.complete:
        return Response(status=202, headers={"X-Progress": job.progress(), "Retry-After": "1"})
    return fhir_response(manifest(job, _base()), mimetype="application/json")


@bp.delete("/$export-status/<job_id>")
def cancel(job_id: str) -> Response:
    _jobs().cancel(_job(job_id))
    return fhir_response({"resourceType": "OperationOutcome", "issue": [
        {"severity": "information", "code": "informational", "diagnostics": f"export job {job_id} cancelled"}]},
        status=202)


@bp.get("/$export-file/<job_id>/<rtype>.ndjson")
def download(job_id: str, rtype: str) -> Response:
    job = _job(job_id)
    path = _jobs().file(job, rtype)
    if path is None:
        raise ApiError(404, f"{rtype}.ndjson is not part of export job {job_id}")
    return send_file(path, mimetype="application/fhir+ndjson", conditional=False)
