"""Activity goal <-> Goal (profile etmi-goal-activity, after the HL7 Physical Activity IG ``pa-goal``).

The target is LOINC 82290-8 "Frequency of moderate to vigorous aerobic physical activity" [A] in UCUM
``min/wk`` [A]; the category is the Physical Activity IG's ``PhysicalActivity`` code. Achievement
status codes come from http://terminology.hl7.org/CodeSystem/goal-achievement (FHIR R4 core).

The outcome questionnaire's ``goal.achieved`` answer ("Did you reach your activity goal?") maps to
``Goal.achievementStatus`` (docs/clinical-content.md): ``with_reported_achievement`` gives it to each goal
that has no achievement status of its own. A status set on the goal (API or EHR) wins over the answer.

The session log's ``session.goal_minutes_week`` ("Agreed weekly activity target"; the domain reference says it
"writes pa-goal.target") is the target agreed with the patient: the latest completed session response
answering it after the day a goal started sets that goal's ``target`` (``with_session_targets``), so each
later session that changes the target gives the stored Goal a new version. The goal's own
``target_minutes_per_week`` is the target agreed when it was set (a session log of that same day does
not override it); when a later session replaced it, an information issue says so (``target_issues``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast, get_args

from mappings import canonical as c
from mappings import refs
from mappings.domain import ActivityGoal, Episode, GoalAchievement, GoalLifecycle
from mappings.errors import Issue, MappingError
from mappings.outcome import OBSERVATION_KINDS, PHYSICAL_ACTIVITY, check_value, quantity

MIN_PER_WEEK = OBSERVATION_KINDS["evs-min-per-week"]

ACHIEVEMENT_DISPLAY = {
    "in-progress": "In Progress", "improving": "Improving", "worsening": "Worsening", "no-change": "No Change",
    "achieved": "Achieved", "sustaining": "Sustaining", "not-achieved": "Not Achieved",
    "no-progress": "No Progress", "not-attainable": "Not Attainable",
}


#: Goals the patient can have been working on when answering ``goal.achieved``.
REPORTABLE_LIFECYCLES = frozenset({"accepted", "active", "on-hold", "completed"})
ACHIEVED_LINK = "goal.achieved"
TARGET_LINK = "session.goal_minutes_week"
#: Goals a session's agreed target no longer changes.
CLOSED_LIFECYCLES = frozenset({"cancelled", "entered-in-error", "rejected"})


def reported_achievement(episode: Episode) -> tuple[str, GoalAchievement] | None:
    """``(authored, code)`` of the latest completed outcome questionnaire answering ``goal.achieved``."""
    reports: list[tuple[str, GoalAchievement]] = []
    for response in episode.responses:
        if response.questionnaire != "outcome" or response.status == "in-progress":
            continue
        for value in response.answer_map().get(ACHIEVED_LINK, ())[:1]:
            if value in get_args(GoalAchievement):
                reports.append((response.authored, cast(GoalAchievement, value)))
    return max(reports, default=None)


def with_reported_achievement(episode: Episode) -> tuple[ActivityGoal, ...]:
    """The episode's goals, each without an achievement status of its own given the patient's latest
    ``goal.achieved`` answer when the goal had started by then (dates compared on the calendar day)."""
    report = reported_achievement(episode)
    if report is None:
        return episode.goals
    authored, code = report

    def reportable(goal: ActivityGoal) -> bool:
        return (goal.achievement_status is None and goal.lifecycle_status in REPORTABLE_LIFECYCLES
                and goal.start[:10] <= authored[:10])

    return tuple(replace(g, achievement_status=code) if reportable(g) else g for g in episode.goals)


def session_target(episode: Episode, goal: ActivityGoal) -> tuple[int, int] | None:
    """``(response index, minutes/week)`` of the latest completed session response agreeing a target after
    the day the goal started (calendar days compared), if any."""
    if goal.lifecycle_status in CLOSED_LIFECYCLES:
        return None
    found = [(r.authored, i, r.answer_map()[TARGET_LINK][0]) for i, r in enumerate(episode.responses)
             if r.questionnaire == "session" and r.status != "in-progress" and r.answer_map().get(TARGET_LINK)
             and r.authored[:10] > goal.start[:10]]
    found = [f for f in found if isinstance(f[2], int) and not isinstance(f[2], bool)]
    if not found:
        return None
    _, index, minutes = max(found)
    return index, cast(int, minutes)


def with_session_targets(episode: Episode, goals: tuple[ActivityGoal, ...]) -> tuple[ActivityGoal, ...]:
    """``goals`` with each target replaced by the latest target a session agreed for it."""
    out = []
    for goal in goals:
        agreed = session_target(episode, goal)
        out.append(replace(goal, target_minutes_per_week=agreed[1]) if agreed else goal)
    return tuple(out)


def target_issues(episode: Episode) -> list[Issue]:
    """Information issues: goals whose own target a session's agreed target replaced."""
    issues = []
    for i, goal in enumerate(episode.goals):
        agreed = session_target(episode, goal)
        if agreed and agreed[1] != goal.target_minutes_per_week:
            issues.append(Issue("information", "informational", f"target {goal.target_minutes_per_week} min/wk "
                                f"replaced by {agreed[1]} min/wk, agreed in responses[{agreed[0]}] "
                                f"({TARGET_LINK})", f"goals[{i}].target_minutes_per_week"))
    return issues


def effective_goals(episode: Episode) -> tuple[ActivityGoal, ...]:
    """The goals as sent: the patient's reported achievement and the sessions' agreed targets applied."""
    return with_session_targets(episode, with_reported_achievement(episode))


def goal_identifier(episode: Episode, goal: ActivityGoal) -> dict[str, str]:
    return refs.identifier(episode.episode_id, "goal", goal.goal_id)


def goal_to_fhir(goal: ActivityGoal, episode: Episode) -> dict[str, Any]:
    issues = check_value(MIN_PER_WEEK, goal.target_minutes_per_week, "target_minutes_per_week")
    if issues:
        raise MappingError(issues)
    resource = refs.base_resource("Goal", goal_identifier(episode, goal), c.ETMI_SD_GOAL)
    resource["lifecycleStatus"] = goal.lifecycle_status
    if goal.achievement_status:
        resource["achievementStatus"] = refs.concept(
            c.GOAL_ACHIEVEMENT, goal.achievement_status, ACHIEVEMENT_DISPLAY[goal.achievement_status])
    target: dict[str, Any] = {
        "measure": refs.concept(c.LOINC, MIN_PER_WEEK.code, MIN_PER_WEEK.display),
        "detailQuantity": quantity(goal.target_minutes_per_week, "min/wk"),
    }
    if goal.due:
        target["dueDate"] = goal.due
    resource.update({
        "category": [PHYSICAL_ACTIVITY],
        "description": {"text": goal.description},
        "subject": refs.patient_reference(episode.patient),
        "startDate": goal.start,
        "target": [target],
    })
    return resource


def goal_from_fhir(resource: dict[str, Any]) -> ActivityGoal:
    """A Goal as an EHR returns it (a clinician may have edited it) -> the domain goal.

    Raises ``MappingError`` naming each element that an ETMI activity goal cannot hold.
    """
    issues: list[Issue] = []
    parts = refs.local_part(resource, "goal")
    if parts is None:
        issues.append(Issue("error", "required", "no ETMI business identifier (system "
                            f"{c.SID_RESOURCE}, value <episode>/goal/<id>)", "Goal.identifier"))
    lifecycle = resource.get("lifecycleStatus")
    if lifecycle not in get_args(GoalLifecycle):
        issues.append(Issue("error", "code-invalid", f"unknown lifecycleStatus {lifecycle!r}", "Goal.lifecycleStatus"))
    achievement = _achievement(resource)
    if achievement is not None and achievement not in get_args(GoalAchievement):
        issues.append(Issue("error", "code-invalid", f"unknown achievementStatus {achievement!r}",
                            "Goal.achievementStatus"))
    targets = [t for t in resource.get("target", []) if _is_minutes_per_week(t)]
    if len(targets) != 1:
        issues.append(Issue("error", "required", "exactly one target with measure LOINC 82290-8 in min/wk "
                            "is required", "Goal.target"))
    if issues:
        raise MappingError(issues)
    assert parts is not None
    target = targets[0]
    return ActivityGoal(
        goal_id=parts[1],
        description=resource.get("description", {}).get("text", ""),
        target_minutes_per_week=target["detailQuantity"]["value"],
        start=resource.get("startDate", ""),
        due=target.get("dueDate"),
        lifecycle_status=lifecycle,  # type: ignore[arg-type]
        achievement_status=achievement,  # type: ignore[arg-type]
    )


def _achievement(resource: dict[str, Any]) -> str | None:
    for cd in resource.get("achievementStatus", {}).get("coding", []):
        if cd.get("system") == c.GOAL_ACHIEVEMENT:
            return str(cd.get("code"))
    return None


def _is_minutes_per_week(target: dict[str, Any]) -> bool:
    codes = {(cd.get("system"), cd.get("code")) for cd in target.get("measure", {}).get("coding", [])}
    qty = target.get("detailQuantity", {})
    return (c.LOINC, MIN_PER_WEEK.code) in codes and qty.get("system") == c.UCUM and qty.get("code") == "min/wk"
