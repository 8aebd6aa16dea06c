"""The error model, without Flask: ``ApiError`` (an HTTP status and the OperationOutcome issues that explain
it), the issue-type code of each status and the OperationOutcome body. Use-cases, ``service/caller.py``,
``api/`` and ``fhir/`` raise it; ``service/fhir/errors.py`` turns it (and any other exception) into the
``application/fhir+json`` response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mappings.errors import Issue, operation_outcome

#: The issue-type code (http://hl7.org/fhir/issue-type) reported for each HTTP status.
ISSUE_CODES: dict[int, str] = {
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
    406: "not-supported", 409: "conflict", 410: "deleted", 412: "conflict", 413: "too-costly",
    415: "not-supported", 422: "processing", 429: "throttled", 500: "exception", 502: "transient",
    503: "transient", 504: "timeout",
}


class ApiError(Exception):
    """An error with its HTTP status and the OperationOutcome issues that explain it."""

    def __init__(self, status: int, issues: list[Issue] | str, headers: Mapping[str, str] | None = None,
                 expression: str | None = None) -> None:
        if isinstance(issues, str):
            issues = [Issue("error", ISSUE_CODES.get(status, "processing"), issues, expression or "")]
        super().__init__("; ".join(i.diagnostics for i in issues))
        self.status = status
        self.issues = issues
        self.headers = dict(headers or {})


def outcome_body(issues: list[Issue]) -> dict[str, Any]:
    """``mappings.errors.operation_outcome`` without empty ``expression`` lists."""
    body = operation_outcome(issues)
    for issue in body["issue"]:
        if issue.get("expression") == [""]:
            del issue["expression"]
    return body
