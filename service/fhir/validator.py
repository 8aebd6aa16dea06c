"""The one call into the validator (``service.validation``): swap the body here, nowhere else."""

from __future__ import annotations

from typing import Any

from mappings.errors import Issue
from service.errors import ApiError


def validate(resource: dict[str, Any], profile: str | None = None) -> dict[str, Any]:
    """The validator's OperationOutcome for ``resource`` (against ``profile`` or its meta.profile)."""
    from service.validation import DefinitionsMissing
    from service.validation import validate as run

    try:
        outcome: dict[str, Any] = run(resource, profile=profile)
    except DefinitionsMissing as err:
        raise ApiError(503, "the validator's R4 definitions are not installed") from err
    return outcome


def error_issues(outcome: dict[str, Any], prefix: str | None = None) -> list[Issue]:
    """The error and fatal issues of an OperationOutcome, with expressions re-rooted at ``prefix``.

    ``prefix`` like ``Bundle.entry[3].resource`` replaces the leading type name of each expression.
    """
    found: list[Issue] = []
    for issue in outcome.get("issue", []):
        if issue.get("severity") not in ("error", "fatal"):
            continue
        expression = str((issue.get("expression") or issue.get("location") or [""])[0])
        if prefix:
            head, dot, rest = expression.partition(".")
            if head[:1].isupper():
                expression = f"{prefix}.{rest}" if dot else prefix
            else:
                expression = f"{prefix}.{expression}" if expression else prefix
        found.append(Issue(issue["severity"], issue.get("code", "invalid"), issue.get("diagnostics", ""), expression))
    return found
