"""Both directions of the per-concept mappings: from_fhir(to_fhir(x)) == x, and the clinical rules."""

from __future__ import annotations

import copy
import dataclasses
from typing import Literal

import pytest

from mappings import canonical as c
from mappings.careplan import careplan_from_fhir, careplan_state, careplan_to_fhir, chosen_activity_statuses
from mappings.domain import ActivityGoal, Episode, OutcomeScore, PatientRef, QuestionnaireAnswers, Session
from mappings.errors import MappingError
from mappings.goal import goal_from_fhir, goal_to_fhir, with_reported_achievement
from mappings.outcome import OBSERVATION_KINDS, observation_to_score, score_to_observation
from mappings.session import session_from_fhir, session_to_fhir

PATIENT = PatientRef("urn:oid:1.2.3", "P1")
GOAL = ActivityGoal("walk", "Brisk walking 150 min/week", 150, "2026-01-05", "2026-03-01", "active", "in-progress")
SESSION = Session(2, "2026-01-19T09:30:00+02:00", True, ("reassurance", "brisk-walk-exposure", "postcard"))
EPISODE = Episode("EP-1", PATIENT, "2026-01-05", "active", None, (SESSION,), (), (GOAL,), ())


def test_goal_round_trip() -> None:
    assert goal_from_fhir(goal_to_fhir(GOAL, EPISODE)) == GOAL


def test_goal_target_is_minutes_per_week_loinc_82290_8() -> None:
    target = goal_to_fhir(GOAL, EPISODE)["target"][0]
    assert target["measure"]["coding"][0] == {"system": c.LOINC, "code": "82290-8",
                                              "display": "Frequency of moderate to vigorous aerobic physical activity"}
    assert target["detailQuantity"] == {"value": 150, "unit": "min/wk", "system": c.UCUM, "code": "min/wk"}


def test_goal_edited_in_the_ehr_maps_back() -> None:
    edited = goal_to_fhir(GOAL, EPISODE)
    edited["target"][0]["detailQuantity"]["value"] = 120
    edited["lifecycleStatus"] = "on-hold"
    edited["meta"] = {"versionId": "3", "lastUpdated": "2026-02-01T10:00:00.000+00:00"}
    back = goal_from_fhir(edited)
    assert (back.target_minutes_per_week, back.lifecycle_status) == (120, "on-hold")


def test_goal_in_hours_is_refused_with_the_path() -> None:
    bad = goal_to_fhir(GOAL, EPISODE)
    bad["target"][0]["detailQuantity"].update(unit="h/wk", code="h/wk")
    with pytest.raises(MappingError) as err:
        goal_from_fhir(bad)
    assert [i.expression for i in err.value.issues] == ["Goal.target"]


@pytest.mark.parametrize("minutes", [-1, 4201])
def test_goal_target_out_of_range(minutes: int) -> None:
    with pytest.raises(MappingError):
        goal_to_fhir(dataclasses.replace(GOAL, target_minutes_per_week=minutes), EPISODE)


def outcome_response(rid: str, authored: str, achieved: str, draft: bool = False) -> QuestionnaireAnswers:
    status: Literal["completed", "in-progress"] = "in-progress" if draft else "completed"
    return QuestionnaireAnswers(rid, "outcome", authored, (("goal.achieved", (achieved,)),), status)


def test_goal_achieved_answer_fills_goals_without_an_achievement_status_of_their_own() -> None:
    own = dataclasses.replace(GOAL, goal_id="own", achievement_status="not-achieved")
    bare = dataclasses.replace(GOAL, goal_id="bare", achievement_status=None)
    later = dataclasses.replace(GOAL, goal_id="later", achievement_status=None, start="2026-05-01")
    cancelled = dataclasses.replace(GOAL, goal_id="x", achievement_status=None, lifecycle_status="cancelled")
    responses = (
        outcome_response("follow-up", "2026-04-20T10:00:00+02:00", "achieved"),
        outcome_response("discharge", "2026-02-02T10:00:00+02:00", "not-achieved"),
        outcome_response("draft", "2026-04-30T10:00:00+02:00", "in-progress", draft=True),
    )
    episode = dataclasses.replace(EPISODE, goals=(own, bare, later, cancelled), responses=responses)
    got = {g.goal_id: g.achievement_status for g in with_reported_achievement(episode)}
    # the latest completed answer (follow-up), only for goals started by then and still pursued
    assert got == {"own": "not-achieved", "bare": "achieved", "later": None, "x": None}
    goal = goal_to_fhir(with_reported_achievement(episode)[1], episode)
    assert goal["achievementStatus"]["coding"] == [{"system": c.GOAL_ACHIEVEMENT, "code": "achieved",
                                                    "display": "Achieved"}]


def test_goals_unchanged_without_a_goal_achieved_answer() -> None:
    bare = dataclasses.replace(GOAL, achievement_status=None)
    episode = dataclasses.replace(EPISODE, goals=(bare,))
    assert with_reported_achievement(episode) == (bare,)


def test_careplan_round_trip_and_categories() -> None:
    plan = careplan_to_fhir(EPISODE)
    assert careplan_from_fhir(plan) == careplan_state(EPISODE)
    codes = {(cd["system"], cd["code"]) for cat in plan["category"] for cd in cat["coding"]}
    assert codes == {(c.US_CORE_CAREPLAN_CATEGORY, "assess-plan"), (c.PA_TEMPORARY_CODES, "PhysicalActivity")}
    assert plan["intent"] == "plan" and plan["goal"] == [{"reference": f"Goal/{goal_to_fhir(GOAL, EPISODE)['id']}"}]


def test_careplan_activities_follow_delivered_sessions() -> None:
    statuses = dict(careplan_state(EPISODE).activities)
    assert statuses == {"reassurance": "completed", "pa-counselling": "not-started",
                        "brisk-walk-exposure": "completed", "goal-setting": "not-started", "postcard": "completed"}


def test_careplan_activity_statuses_chosen_by_a_clinician_replace_the_derived_ones() -> None:
    episode = dataclasses.replace(EPISODE, activity_statuses=(("brisk-walk-exposure", "cancelled"),
                                                              ("stage-matched-counselling", "scheduled")))
    plan = careplan_to_fhir(episode)
    statuses = {a["detail"]["code"]["coding"][0]["code"]: a["detail"]["status"] for a in plan["activity"]}
    assert statuses == {"304558001": "completed", "435551000124105": "not-started",
                        c.INTERVENTION_BRISK_WALK: "cancelled", c.INTERVENTION_GOAL_SETTING: "not-started",
                        c.INTERVENTION_POSTCARD: "completed", c.INTERVENTION_STAGE_MATCHED: "scheduled"}
    state = careplan_from_fhir(plan)
    assert state == careplan_state(episode)
    assert chosen_activity_statuses(EPISODE, state) == {"brisk-walk-exposure": "cancelled",
                                                        "stage-matched-counselling": "scheduled"}
    assert chosen_activity_statuses(EPISODE, careplan_from_fhir(careplan_to_fhir(EPISODE))) == {}


def test_careplan_activity_status_outside_the_code_list_is_named() -> None:
    plan = careplan_to_fhir(EPISODE)
    plan["activity"][1]["detail"]["status"] = "done"
    with pytest.raises(MappingError) as err:
        careplan_from_fhir(plan)
    assert [i.expression for i in err.value.issues] == ["CarePlan.activity[1].detail.status"]


def test_careplan_status_changed_in_the_ehr() -> None:
    plan = copy.deepcopy(careplan_to_fhir(EPISODE))
    plan["status"] = "completed"
    plan["period"]["end"] = "2026-02-02"
    state = careplan_from_fhir(plan)
    assert (state.status, state.end) == ("completed", "2026-02-02")


def test_careplan_unknown_activity_is_named() -> None:
    plan = careplan_to_fhir(EPISODE)
    plan["activity"][1]["detail"]["code"] = {"text": "massage"}
    with pytest.raises(MappingError) as err:
        careplan_from_fhir(plan)
    assert err.value.issues[0].expression == "CarePlan.activity[1].detail.code"


def test_session_round_trip() -> None:
    proc = session_to_fhir(SESSION, EPISODE)
    assert session_from_fhir(proc) == SESSION
    assert proc["code"]["coding"][0]["code"] == "91251008"


@pytest.mark.parametrize("kind,value", [("pain", 7), ("function", 55.5), ("fabq-pa", 24), ("evs-min-per-week", 150),
                                        ("ttm-stage", "preparation"), ("gad2", 3), ("phq2", 0)])
def test_score_round_trip(kind: str, value: int | float | str) -> None:
    score = OutcomeScore("s1", kind, value, "2026-01-05T09:00:00+02:00")
    obs = score_to_observation(score, EPISODE)
    assert obs["meta"]["profile"] == [OBSERVATION_KINDS[kind].profile]
    assert observation_to_score(obs) == score


@pytest.mark.parametrize("kind,value", [("pain", 11), ("pain", -1), ("pain", 6.5), ("function", 100.1),
                                        ("fabq-pa", 25), ("fabq-w", 43), ("evs-days", 8), ("phq2", 7),
                                        ("ttm-stage", "ready"), ("pain", "6"), ("pain", True)])
def test_scores_out_of_range_or_of_wrong_type_are_refused(kind: str, value: int | float | str) -> None:
    with pytest.raises(MappingError) as err:
        score_to_observation(OutcomeScore("s1", kind, value, "2026-01-05T09:00:00+02:00"), EPISODE)
    assert err.value.issues[0].expression == "score.value"


def test_function_polarity_is_higher_is_better() -> None:
    kind = OBSERVATION_KINDS["function"]
    assert (kind.low, kind.high) == (0, 100) and "higher is better" in kind.display


def test_ids_are_deterministic_and_not_numeric() -> None:
    a, b = goal_to_fhir(GOAL, EPISODE)["id"], goal_to_fhir(GOAL, EPISODE)["id"]
    assert a == b and not a.isdigit() and len(a) <= 64
