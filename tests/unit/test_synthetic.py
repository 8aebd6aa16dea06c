"""The synthetic cohort is clinically coherent (issue 10 item 10), over 300 episodes of the default seed."""

from __future__ import annotations

import statistics
from typing import Any

from service.synthetic import regular, synthetic_episode

COHORT = [synthetic_episode(i) for i in range(300)]
ACTIVE = {"action", "maintenance"}


def answers(episode: dict[str, Any], questionnaire: str) -> list[dict[str, Any]]:
    return [r["answers"] for r in episode["responses"] if r["questionnaire"] == questionnaire]


def minutes_per_week(a: dict[str, Any]) -> int:
    return int(a["evs.days"] * a["evs.minutes"])


def test_stage_of_change_follows_the_exercise_vital_sign() -> None:
    for episode in COHORT:
        for a in answers(episode, "intake") + answers(episode, "outcome"):
            assert (a["ttm.stage"] in ACTIVE) == regular(a["evs.days"], a["evs.minutes"]), episode["episode_id"]
            if minutes_per_week(a) < 60:
                assert a["ttm.stage"] not in ACTIVE, episode["episode_id"]


def test_goal_achievement_follows_the_minutes_and_the_latest_agreed_target() -> None:
    for episode in COHORT:
        [intake], [discharge] = answers(episode, "intake"), answers(episode, "outcome")
        targets = [a["session.goal_minutes_week"] for a in answers(episode, "session")
                   if "session.goal_minutes_week" in a]
        target = targets[-1] if targets else episode["goals"][0]["target_minutes_per_week"]
        reached = minutes_per_week(discharge) >= target
        assert (discharge["goal.achieved"] == "achieved") == reached, episode["episode_id"]
        assert target > minutes_per_week(intake) or target == 150, "a target above today's activity, at most 150"


def test_etmi_episodes_have_two_to_four_sessions() -> None:
    counts = [len(e["sessions"]) for e in COHORT]
    assert set(counts) <= {2, 3, 4} and 2.6 <= statistics.mean(counts) <= 3.5


def test_outcomes_improve_by_plausible_amounts_with_spread() -> None:
    pain = [d["pain.nrs"] - i["pain.nrs"] for e in COHORT for i, d in zip(answers(e, "intake"), answers(e, "outcome"),
                                                                          strict=True)]
    function = [d["function.score"] - i["function.score"] for e in COHORT
                for i, d in zip(answers(e, "intake"), answers(e, "outcome"), strict=True)
                if "function.score" in i and "function.score" in d]
    assert -3 <= statistics.mean(pain) <= -1 and statistics.stdev(pain) >= 1
    assert 5 <= statistics.mean(function) <= 15 and statistics.stdev(function) >= 5
    assert any(p > 0 for p in pain) and any(f < 0 for f in function), "some patients get worse"


def test_some_answers_are_missing_and_comorbidity_is_plausible() -> None:
    optional = {"function.score", "evs.strength_days", "beliefs.prognosis", "fabq.pa3", "phq2.q2", "gad2.q2"}
    missing = sum(1 for e in COHORT if not optional <= set(answers(e, "intake")[0]))
    assert 0.05 * len(COHORT) <= missing <= 0.5 * len(COHORT)
    depressed = sum(1 for e in COHORT if "35489007" in answers(e, "intake")[0].get("comorb.dx", []))
    assert 0.05 * len(COHORT) <= depressed <= 0.3 * len(COHORT)
