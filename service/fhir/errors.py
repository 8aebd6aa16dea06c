"""The one error handler: every error leaves the service as an ``application/fhir+json`` OperationOutcome.

``ApiError`` (``service/errors.py``, Flask-free) carries a status and its issues; ``handle_error`` turns
any exception (an ``ApiError``, a werkzeug/flask-smorest ``HTTPException``, a ``MappingError`` or anything
unexpected) into the response. A 500 body names the request id and nothing else about the failure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from mappings.errors import Issue, MappingError
from service.errors import ISSUE_CODES, ApiError, outcome_body
from service.fhir.respond import fhir_response
from service.limits import LimitError

log = logging.getLogger("etmi.errors")

def _http_issues(exc: HTTPException) -> list[Issue]:
    status = exc.code or 500
    code = ISSUE_CODES.get(status, "processing")
    messages = getattr(exc, "data", {}).get("messages") if hasattr(exc, "data") else None
    if isinstance(messages, Mapping):
        issues, seen = [], set()
        for issue in _flatten(messages, "", code):
            if issue.expression not in seen:
                seen.add(issue.expression)
                issues.append(issue)
        return issues or [Issue("error", code, exc.description or "", "")]
    return [Issue("error", code, exc.description or exc.name, "")]


def _flatten(messages: Mapping[str, Any], prefix: str, code: str) -> list[Issue]:
    """webargs/marshmallow messages ``{"json": {"goal": {"start": ["..."]}}}`` -> issues with paths."""
    issues: list[Issue] = []
    for key, value in messages.items():
        part = str(key)
        path = part if not prefix else (f"{prefix}[{part}]" if part.isdigit() else f"{prefix}.{part}")
        if prefix == "" and part in ("json", "query", "headers", "form", "files"):
            path = "" if part == "json" else part
        if isinstance(value, Mapping):
            issues += _flatten(value, path, code)
        else:
            for text in value if isinstance(value, list) else [value]:
                issues.append(Issue("error", "invalid" if code == "processing" else code, str(text), path))
    return issues


def error_response(status: int, issues: list[Issue], headers: Mapping[str, str] | None = None) -> Response:
    response = fhir_response(outcome_body(issues), status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_error(exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.issues, exc.headers)
    if isinstance(exc, MappingError):
        return error_response(422, exc.issues)
    if isinstance(exc, LimitError):
        return error_response(exc.status, [Issue("error", exc.code, exc.message, exc.path)])
    if isinstance(exc, HTTPException):
        headers = {"Allow": exc.response.headers["Allow"]} if exc.response and "Allow" in exc.response.headers else {}
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            headers["Allow"] = ", ".join(exc.valid_methods)
        return error_response(exc.code or 500, _http_issues(exc), headers)
    request_id = getattr(g, "request_id", "-")
    log.error("unhandled error", extra={"event": "error", "error_type": type(exc).__name__,
                                        "request_id": request_id}, exc_info=exc)
    text = f"internal error; request id {request_id}"
    return error_response(500, [Issue("fatal", "exception", text, "")])


def register(app: Flask) -> None:
    """Install the handler for every exception (overrides flask-smorest's JSON handler) and the input
    limits every request passes before its view runs (``service.fhir.parse``)."""
    from service.fhir import parse

    parse.install(app)
    app.register_error_handler(Exception, handle_error)
    app.register_error_handler(HTTPException, handle_error)
