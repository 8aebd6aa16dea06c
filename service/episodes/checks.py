"""Before anything is stored: limits, mapping and validation (a 422 with every issue), and the refusals."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from mappings.bundle import episode_resources
from mappings.domain import Episode
from mappings.errors import Issue, MappingError, operation_outcome
from mappings.payload import episode_from_json
from service import limits
from service.episodes.model import Caller, Deps, WriteResult, utcnow
from service.errors import ApiError
from service.security import authz
from service.security.audit_event import DENIED


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


#: The payload the transport has just checked (limits and ``episode_from_json``) and its episode, per thread.
_CHECKED: ContextVar[tuple[dict[str, Any], Episode] | None] = ContextVar("etmi_checked_payload", default=None)


def checked(payload: dict[str, Any], episode: Episode) -> None:
    """The transport checked this very dict (``check_episode``, ``episode_from_json``: ``episode``); the
    write that maps it next does not check it again. Unchanged since: nothing between mutates a payload."""
    _CHECKED.set((payload, episode))


def _episode(payload: dict[str, Any]) -> Episode:
    """The payload's limits (an EHR edit pulled into the episode meets them too) and its episode."""
    held = _CHECKED.get()
    if held is not None and held[0] is payload:
        _CHECKED.set(None)
        return held[1]
    try:
        limits.check_episode(payload)
    except limits.LimitError as err:
        raise MappingError([Issue("error", err.code, err.message, err.path)]) from err
    return episode_from_json(payload)


def mapped(deps: Deps, payload: dict[str, Any]) -> tuple[Episode, list[dict[str, Any]]]:
    """Map and validate; raise 422 (``MappingError``) with every issue found, first the payload's limits."""
    episode = _episode(payload)
    questionnaires = deps.questionnaires()
    missing = {r.questionnaire for r in episode.responses} - set(questionnaires)
    if missing:
        raise ApiError(503, f"questionnaire(s) {', '.join(sorted(missing))} not loaded from the profiles package")
    resources = episode_resources(episode, questionnaires, deps.mapping())
    issues: list[Issue] = []
    for i, resource in enumerate(resources):
        issues += error_issues(deps.validate(resource, None), f"Bundle.entry[{i}].resource")
    if issues:
        raise MappingError(issues)
    return episode, resources


def patient_of(resources: list[dict[str, Any]]) -> str:
    """The local id of the episode's Patient, as the mapping made it (the one place it is decided)."""
    return next(str(r["id"]) for r in resources if r.get("resourceType") == "Patient")


def not_found(episode_id: str) -> str:
    """The one answer for an episode that is not stored or not the caller's to see."""
    return f"episode {episode_id!r} is not known"


def refused(deps: Deps, caller: Caller, err: authz.Denied, action: str) -> ApiError:
    """Audit a refused write (outcome 4) and give the answer: 404 like a missing episode, 403 or 409."""
    deps.repo.audit([caller.audit(action, err.resource_type, err.resource_id, None, err.patient_id, utcnow(),
                                  DENIED)])
    return ApiError(err.status, err.reason, expression="patient" if err.status == 409 else None)


def with_issues(result: WriteResult, issues: list[Issue]) -> WriteResult:
    """An accepted write tells its caller the mapping's warnings (e.g. low back pain shorter than 3 months)."""
    if issues:
        result.body["issues"] = operation_outcome(issues)
    return result
