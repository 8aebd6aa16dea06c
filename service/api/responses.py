# mypy: disable-error-code="untyped-decorator"
"""What ``/api/v1`` answers, for the OpenAPI document: the response schemas and ``errors``, the
decorator that documents every error an operation can send (an ``application/fhir+json``
OperationOutcome). The document is the truth: ``tests/service/test_fuzz_openapi.py`` checks every
answer against it (status, schema and content type)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

FHIR_JSON = "application/fhir+json"
F = TypeVar("F", bound=Callable[..., Any])

#: The errors every operation may answer (the request guard, authentication, the error handler).
COMMON_ERRORS: dict[int, str] = {
    400: "the request is malformed or outside the input limits (the issue names the parameter or path)",
    401: "no valid bearer token", 403: "the token's scopes do not allow this", 404: "not found",
    406: "the Accept header asks for something other than JSON", 413: "the body is larger than 5 MiB",
    500: "internal error (the issue names the request id only)", 503: "not ready (database, validator)",
}
WRITE_ERRORS: dict[int, str] = {
    409: "conflict: the business id or Idempotency-Key exists with other content, or a concurrent change",
    412: "If-Match names another version of the episode",
    415: "the body is not JSON", 422: "the payload breaks the documented rules (every issue is listed)",
}


class IssueSchema(Schema):
    severity = fields.String(required=True, validate=validate.OneOf(("fatal", "error", "warning", "information")))
    code = fields.String(required=True, metadata={"description": "http://hl7.org/fhir/issue-type"})
    diagnostics = fields.String()
    expression = fields.List(fields.String(), metadata={"description": "the parameter or payload path"})


class OperationOutcomeSchema(Schema):
    """A FHIR R4 OperationOutcome: every error of the service."""

    resourceType = fields.String(required=True, validate=validate.Equal("OperationOutcome"))
    issue = fields.List(fields.Nested(IssueSchema), required=True, validate=validate.Length(min=1))


#: The headers every write reads (``service.api.routes_common.caller``).
WRITE_HEADERS: list[dict[str, Any]] = [
    {"name": "If-Match", "in": "header", "required": False,
     "description": "the episode's ETag, W/\"<version>\"; 412 when the stored episode is at another version",
     "schema": {"type": "string", "pattern": r'^W/"[0-9]{1,10}"$'}},
    {"name": "Idempotency-Key", "in": "header", "required": False,
     "description": "a retry with the same key and body gets the stored answer; another body is 409",
     "schema": {"type": "string", "minLength": 1, "maxLength": 200}},
]


def query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    """One documented query parameter (``schema`` defaults to a string)."""
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string", "maxLength": 255}}


def errors(bp: Blueprint, *, write: bool = False, parameters: list[dict[str, Any]] | None = None
           ) -> Callable[[F], F]:
    """Document the OperationOutcome answers of one operation (all errors; ``write`` adds 409-422 and the
    write headers) and its ``parameters`` (query or header)."""
    codes = {**COMMON_ERRORS, **(WRITE_ERRORS if write else {})}
    documented = [*(parameters or []), *(WRITE_HEADERS if write else [])]

    def decorate(view: F) -> F:
        for status, text in sorted(codes.items(), reverse=True):
            view = bp.alt_response(status, schema=OperationOutcomeSchema, content_type=FHIR_JSON,
                                   description=f"OperationOutcome: {text}")(view)
        return bp.doc(parameters=documented)(view) if documented else view
    return decorate


class ResourceRefSchema(Schema):
    reference = fields.String(required=True, metadata={"description": "Type/id of a FHIR resource"})
    version = fields.Integer(required=True)
    changed = fields.Boolean(required=True)


class WriteResultSchema(Schema):
    episode_id = fields.String(required=True)
    version = fields.Integer(required=True)
    patient_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(("created", "updated", "unchanged")))
    outbox_id = fields.Integer(allow_none=True, metadata={"description": "the first of outbox_ids"})
    outbox_ids = fields.List(fields.Integer(), metadata={"description": "one outbox entry per sync target"})
    resources = fields.List(fields.Nested(ResourceRefSchema))
    issues = fields.Dict(metadata={"description": "an OperationOutcome of the write's warnings and information "
                                                  "(e.g. a low back pain episode shorter than 3 months); absent "
                                                  "when there are none"})


class EpisodeReadSchema(Schema):
    episode_id = fields.String(required=True)
    version = fields.Integer(required=True)
    patient_id = fields.String(required=True)
    episode = fields.Dict(required=True, metadata={"description": "the stored episode payload"})


class PatientOutSchema(Schema):
    id = fields.String(required=True, metadata={"description": "the local FHIR Patient id"})
    system = fields.String(required=True)
    value = fields.String(required=True)


class PatientReadSchema(PatientOutSchema):
    episodes = fields.List(fields.String(), required=True, metadata={"description": "business ids"})


class OutboxEntrySchema(Schema):
    id = fields.Integer(required=True)
    patient_key = fields.String(required=True)
    target = fields.String(allow_none=True, required=True, metadata={"description": "null: every target"})
    resource_type = fields.String(required=True)
    local_id = fields.String(required=True)
    operation = fields.String(required=True)
    status = fields.String(required=True)
    attempts = fields.Integer(required=True)
    next_attempt_at = fields.String(required=True, metadata={"format": "date-time"})
    last_error = fields.String(allow_none=True)
    outcome = fields.Dict(allow_none=True, metadata={"description": "what the EHR answered (summarised)"})


class OutboxListSchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    by_target = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()),
                            required=True)
    entries = fields.List(fields.Nested(OutboxEntrySchema), required=True)


class ReplayResultSchema(Schema):
    replayed = fields.Integer(required=True, metadata={"description": "how many entries were queued again"})


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.String(required=True, metadata={"format": "date-time"})
    actor = fields.String(required=True)
    action = fields.String(required=True)
    outcome = fields.String(metadata={"description": "0 success, 4 denied"})
    resource_type = fields.String(required=True)
    resource_id = fields.String(allow_none=True)
    version_id = fields.Integer(allow_none=True)
    patient_id = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    audit_event = fields.String(metadata={"description": "AuditEvent/<id> at /fhir"})


class AuditListSchema(Schema):
    entries = fields.List(fields.Nested(AuditEntrySchema), required=True)
