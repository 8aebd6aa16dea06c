"""Collecting validation issues and turning them into an R4 OperationOutcome."""

from __future__ import annotations

from typing import Any, Protocol


class _Invariant(Protocol):
    key: str
    severity: str
    human: str
    source: str | None


class Issues:
    """Issues in the order found, without duplicates (a resource may be walked once per profile)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str, str]] = []
        self._seen: set[tuple[str, str, str, str]] = set()

    def add(self, severity: str, code: str, expression: str, message: str) -> None:
        issue = (severity, code, expression, message)
        if issue not in self._seen:
            self._seen.add(issue)
            self.items.append(issue)

    def error(self, code: str, expression: str, message: str) -> None:
        self.add("error", code, expression, message)

    def warning(self, code: str, expression: str, message: str) -> None:
        self.add("warning", code, expression, message)

    def information(self, code: str, expression: str, message: str) -> None:
        self.add("information", code, expression, message)

    def invariant(self, constraint: _Invariant, expression: str) -> None:
        severity = "error" if constraint.severity == "error" else "warning"
        self.add(severity, "invariant", expression, f"Constraint failed: {constraint.key}: '{constraint.human}'")

    @property
    def has_errors(self) -> bool:
        return any(severity in ("error", "fatal") for severity, *_ in self.items)


def operation_outcome(issues: Issues) -> dict[str, Any]:
    """An R4 OperationOutcome; a clean result carries one 'informational' issue (issue is 1..*)."""
    listed = [
        {"severity": severity, "code": code, "diagnostics": message, "expression": [expression]}
        for severity, code, expression, message in issues.items
    ]
    if not listed:
        listed = [{"severity": "information", "code": "informational", "diagnostics": "No issues detected"}]
    return {"resourceType": "OperationOutcome", "issue": listed}


def has_errors(outcome: dict[str, Any]) -> bool:
    """True when an OperationOutcome lists an error or fatal issue."""
    return any(issue.get("severity") in ("error", "fatal") for issue in outcome.get("issue", []))
