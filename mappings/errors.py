"""Mapping errors: every problem is an ``Issue`` naming the element path and the rule broken.

The service turns a ``MappingError`` into one OperationOutcome (HTTP 422) listing all issues at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: ``code`` is from http://hl7.org/fhir/issue-type."""

    severity: Severity
    code: str
    diagnostics: str
    expression: str

    def to_fhir(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
            "expression": [self.expression],
        }


class MappingError(ValueError):
    """Input that cannot be mapped; carries every issue found, not only the first."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(f"{i.expression}: {i.diagnostics}" for i in issues))
        self.issues = issues

    def to_operation_outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}
