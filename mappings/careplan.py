"""Episode <-> CarePlan (profile etmi-careplan), which addresses the episode's low back pain Condition.

Activity codes: SNOMED CT 304558001 "Reassuring about exercise", 435551000124105 "Counseling about
physical activity" [A] (VSAC "Counseling for Physical Activity"); stage-matched counselling,
brisk-walk exposure, goal setting and the postcard have no verified SNOMED concept and use the
project's ``etmi-intervention`` CodeSystem (710849009 "Assessment of exercise behavior" is the staging,
recorded as the stage-of-change Observation, not the counselling). Categories: US Core ``assess-plan``
plus the Physical Activity IG's ``PhysicalActivity`` (sent together, valid for US Core 6.1 to 9.0).
The Condition itself is built in ``mappings.condition``.

Activity statuses follow from the sessions (delivered: ``completed``; otherwise ``not-started``, or
``stopped`` once the episode ended), except where a clinician set one (``Episode.activity_statuses``,
from the API or an EHR edit of the CarePlan): that status stays until a clinician changes it.
"""

from __future__ import annotations

from html import escape
from typing import Any, cast, get_args

from mappings import canonical as c
from mappings import refs
from mappings.condition import condition_identifier
from mappings.domain import ActivityStatus, CarePlanState, Episode, EpisodeStatus, SessionComponent
from mappings.errors import Issue, MappingError
from mappings.goal import goal_identifier
from mappings.outcome import PHYSICAL_ACTIVITY

SESSION_COMPONENTS: dict[str, dict[str, str]] = {
    "reassurance": refs.coding(c.SNOMED, "304558001", "Reassuring about exercise (procedure)"),
    "pa-counselling": refs.coding(c.SNOMED, "435551000124105", "Counseling about physical activity (procedure)"),
    "stage-matched-counselling": refs.coding(c.ETMI_CS_INTERVENTION, c.INTERVENTION_STAGE_MATCHED,
                                             "Stage-matched physical activity counselling"),
    "brisk-walk-exposure": refs.coding(c.ETMI_CS_INTERVENTION, c.INTERVENTION_BRISK_WALK, "Brisk-walking exposure"),
    "goal-setting": refs.coding(c.ETMI_CS_INTERVENTION, c.INTERVENTION_GOAL_SETTING, "Physical activity goal setting"),
    "postcard": refs.coding(c.ETMI_CS_INTERVENTION, c.INTERVENTION_POSTCARD, "ETMI reminder postcard given"),
}
#: Codes read back from plans and sessions sent before stage-matched counselling had its own code.
LEGACY_COMPONENT_CODES: dict[tuple[str, str], SessionComponent] = {(c.SNOMED, "710849009"): "stage-matched-counselling"}


def component_by_code() -> dict[tuple[str, str], SessionComponent]:
    """(system, code) -> session component, for reading plans and sessions back (legacy codes included)."""
    return {**LEGACY_COMPONENT_CODES,
            **{(cd["system"], cd["code"]): cast(SessionComponent, k) for k, cd in SESSION_COMPONENTS.items()}}


#: The ETMI activities every plan lists; other components appear once a session delivered them.
CORE_ACTIVITIES: tuple[SessionComponent, ...] = ("reassurance", "pa-counselling", "brisk-walk-exposure", "goal-setting")
TITLE = "ETMI self-management plan for chronic low back pain"


def careplan_identifier(episode: Episode) -> dict[str, str]:
    return refs.identifier(episode.episode_id, "careplan")


def derived_activity_statuses(episode: Episode) -> list[tuple[SessionComponent, str]]:
    """The statuses the sessions give each activity, before any a clinician set."""
    delivered = {comp for s in episode.sessions for comp in s.components}
    finished = episode.status != "active"
    listed = list(CORE_ACTIVITIES) + [k for k in get_args(SessionComponent) if k in delivered
                                      and k not in CORE_ACTIVITIES]
    return [(k, "completed" if k in delivered else ("stopped" if finished else "not-started")) for k in listed]


def _activity_statuses(episode: Episode) -> list[tuple[SessionComponent, str]]:
    derived = derived_activity_statuses(episode)
    chosen = dict(episode.activity_statuses)
    listed = {k for k, _ in derived}
    extra = [(k, chosen[k]) for k in get_args(SessionComponent) if k in chosen and k not in listed]
    return [(k, chosen.get(k, st)) for k, st in derived] + extra


def chosen_activity_statuses(episode: Episode, state: CarePlanState) -> dict[str, str]:
    """The activity statuses of an EHR's CarePlan that differ from what the sessions give: what a
    clinician chose, to keep as ``activity_statuses`` (components the EHR left out are not chosen)."""
    derived = dict(derived_activity_statuses(episode))
    return {k: st for k, st in state.activities if derived.get(k) != st}


def _narrative(episode: Episode, activities: list[tuple[SessionComponent, str]]) -> dict[str, str]:
    rows = "".join(f"<li>{escape(SESSION_COMPONENTS[k]['display'])}: {escape(st)}</li>" for k, st in activities)
    div = (f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{escape(TITLE)} ({escape(episode.status)}, '
           f"from {escape(episode.start)}; {len(episode.goals)} goal(s), {len(episode.sessions)} session(s))</p>"
           f"<ul>{rows}</ul></div>")
    return {"status": "generated", "div": div}


def careplan_to_fhir(episode: Episode) -> dict[str, Any]:
    activities = _activity_statuses(episode)
    resource = refs.base_resource("CarePlan", careplan_identifier(episode), c.ETMI_SD_CAREPLAN)
    period = {"start": episode.start, **({"end": episode.end} if episode.end else {})}
    resource.update({
        "text": _narrative(episode, activities),
        "status": episode.status,
        "intent": "plan",
        "category": [refs.concept(c.US_CORE_CAREPLAN_CATEGORY, "assess-plan", "Assessment and Plan of Treatment"),
                     PHYSICAL_ACTIVITY],
        "title": TITLE,
        "subject": refs.patient_reference(episode.patient),
        "period": period,
        "addresses": [refs.reference("Condition", condition_identifier(episode))],
    })
    if episode.goals:
        resource["goal"] = [refs.reference("Goal", goal_identifier(episode, g)) for g in episode.goals]
    resource["activity"] = [{"detail": {"code": {"coding": [SESSION_COMPONENTS[k]]}, "status": st}}
                            for k, st in activities]
    return resource


def careplan_from_fhir(resource: dict[str, Any]) -> CarePlanState:
    """A CarePlan as an EHR returns it -> the parts of the episode an EHR may change."""
    issues: list[Issue] = []
    parts = refs.local_part(resource, "careplan")
    if parts is None:
        issues.append(Issue("error", "required", f"no ETMI business identifier (system {c.SID_RESOURCE})",
                            "CarePlan.identifier"))
    status = resource.get("status")
    if status not in get_args(EpisodeStatus):
        issues.append(Issue("error", "code-invalid", f"CarePlan status {status!r} has no ETMI episode status",
                            "CarePlan.status"))
    by_code = component_by_code()
    activities: list[tuple[SessionComponent, str]] = []
    for i, act in enumerate(resource.get("activity", [])):
        detail = act.get("detail", {})
        keys = [by_code[(cd.get("system"), cd.get("code"))] for cd in detail.get("code", {}).get("coding", [])
                if (cd.get("system"), cd.get("code")) in by_code]
        if not keys:
            issues.append(Issue("error", "code-invalid", "activity is not an ETMI component",
                                f"CarePlan.activity[{i}].detail.code"))
            continue
        if detail.get("status") not in get_args(ActivityStatus):
            issues.append(Issue("error", "code-invalid", f"activity status {detail.get('status')!r} is not a CarePlan "
                                "activity status", f"CarePlan.activity[{i}].detail.status"))
            continue
        activities.append((keys[0], detail["status"]))
    if issues:
        raise MappingError(issues)
    assert parts is not None
    return CarePlanState(episode_id=parts[0], status=status, end=resource.get("period", {}).get("end"),  # type: ignore[arg-type]
                         activities=tuple(activities))


def careplan_state(episode: Episode) -> CarePlanState:
    """The state ``careplan_from_fhir(careplan_to_fhir(episode))`` must give back."""
    return CarePlanState(episode.episode_id, episode.status, episode.end, tuple(_activity_statuses(episode)))
