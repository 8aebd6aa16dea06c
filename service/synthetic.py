"""A seeded generator of clinically coherent ETMI episode payloads (the format of ``examples/episode.json``).

Used by benchmarks, end-to-end sync tests, golden files and the demo. Same seed, same cohort. The rules
follow the trials in the project's clinical docs (ETMI sessions 2.6 +/- 0.6 and 3.5 on average; outcomes
at intake and discharge):
- Chronic low back pain (``lbp.duration`` more than 3 months), 2-4 sessions one to three weeks apart,
  90% delivered as ETMI; the first ETMI session sets the activity goal and gives the postcard.
- Exercise Vital Sign: minutes/week = days/week x minutes/day. The stage of change follows it with the
  CPRC definition of regular exercise (3 or more days a week, 20 minutes or more): regular exercisers are
  in action (maintenance when they already were at intake), the others in precontemplation,
  contemplation or preparation (preparation only with some activity). Activity rises after ETMI by a
  patient-specific amount, and some patients do not change.
- The goal target is agreed in the session log (``session.goal_minutes_week``: 60-120 min/week at the
  first session and above the patient's baseline, at most the guideline's 150; raised by 30 at a later
  goal-setting session for patients who progress); at discharge
  it is achieved exactly when the Exercise Vital Sign minutes/week reach the latest target, in progress
  when activity rose without reaching it, and not achieved otherwise.
- Pain falls by about 2 points (SD 1.8), function rises by about 10 (SD 9; MCID about 5), FABQ items fall
  by about 1 point each (SD 0.8): most improve, some worsen.
- Comorbid depression (about 15%) and anxiety (about 15%) are answered at intake (``comorb.dx``) and
  raise the PHQ-2 / GAD-2 answers.
- About 4% of optional answers are missing (a missing item leaves its total out).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

COMPONENTS = ("reassurance", "pa-counselling", "stage-matched-counselling", "brisk-walk-exposure",
              "goal-setting", "postcard")
PHQ = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")
DEPRESSION, ANXIETY = "35489007", "197480006"
MISSING = 0.04


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _when(day: date, hour: int) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00+02:00"


def _evs(rng: random.Random, active: float) -> tuple[int, int]:
    """(days/week, minutes/day) of moderate to vigorous activity for a propensity ``active`` in [0, 1]."""
    days = _clamp(rng.gauss(active * 6, 0.8), 0, 7)
    minutes = 0 if days == 0 else 5 * _clamp(rng.gauss(3 + 6 * active, 1.5), 1, 18)
    return days, minutes


def regular(days: int, minutes: int) -> bool:
    """Regular exercise in the CPRC staging item's definition: 3-5 times a week, 20-60 minutes."""
    return days >= 3 and minutes >= 20


def stage_of(rng: random.Random, days: int, minutes: int, maintained: bool) -> str:
    """The stage of change an Exercise Vital Sign answer is coherent with."""
    if regular(days, minutes):
        return "maintenance" if maintained else "action"
    if days * minutes == 0:
        return rng.choice(("precontemplation", "contemplation", "contemplation"))
    return rng.choice(("contemplation", "preparation", "preparation"))


def _fabq(rng: random.Random, level: float) -> dict[str, str]:
    return {f"fabq.pa{i}": str(_clamp(rng.gauss(level, 1.0), 0, 6)) for i in range(1, 6)}


def _mood(rng: random.Random, diagnosed: bool, prefix: str) -> dict[str, str]:
    base = 1.6 if diagnosed else 0.5
    return {f"{prefix}.q{i}": PHQ[_clamp(rng.gauss(base, 0.8), 0, 3)] for i in (1, 2)}


def _drop_some(rng: random.Random, answers: dict[str, Any], optional: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in answers.items() if k not in optional or rng.random() >= MISSING}


def _intake(rng: random.Random, p: dict[str, Any]) -> dict[str, Any]:
    days, minutes = p["evs0"]
    comorb = [code for code, has in ((DEPRESSION, p["depressed"]), (ANXIETY, p["anxious"])) if has]
    answers = {"lbp.duration": "gt-3mo", "pain.nrs": p["pain0"], "function.score": p["func0"], **_fabq(rng, p["fabq0"]),
               "evs.days": days, "evs.minutes": minutes, "evs.strength_days": _clamp(rng.gauss(0.5, 0.8), 0, 7),
               "ttm.stage": p["stage0"], "pa.preferences": p["preferences"],
               "beliefs.prognosis": _clamp(rng.gauss(5, 2), 0, 10),
               **_mood(rng, p["depressed"], "phq2"), **_mood(rng, p["anxious"], "gad2")}
    if comorb:
        answers["comorb.dx"] = comorb
    optional = ("function.score", "evs.strength_days", "beliefs.prognosis", "fabq.pa3", "phq2.q2", "gad2.q2",
                "pa.preferences")
    return _drop_some(rng, answers, optional)


def _discharge(rng: random.Random, p: dict[str, Any], achieved: str) -> dict[str, Any]:
    days, minutes = p["evs1"]
    answers = {"pain.nrs": p["pain1"], "function.score": p["func1"], **_fabq(rng, p["fabq1"]),
               "evs.days": days, "evs.minutes": minutes, "evs.strength_days": _clamp(rng.gauss(1, 1), 0, 7),
               "ttm.stage": p["stage1"], "goal.achieved": achieved}
    return _drop_some(rng, answers, ("function.score", "evs.strength_days", "fabq.pa2"))


def _patient(rng: random.Random) -> dict[str, Any]:
    """The latent course of one patient: baseline, change with ETMI, comorbidity."""
    active0 = rng.betavariate(1.5, 4)
    active1 = min(1.0, max(0.0, active0 + rng.gauss(0.22, 0.18)))
    evs0, evs1 = _evs(rng, active0), _evs(rng, active1)
    maintained = regular(*evs0) and rng.random() < 0.3
    stage0 = stage_of(rng, *evs0, maintained=maintained)
    stage1 = stage_of(rng, *evs1, maintained=stage0 == "maintenance")
    pain0, func0, fabq0 = _clamp(rng.gauss(6, 1.5), 2, 10), _clamp(rng.gauss(50, 12), 5, 95), rng.gauss(4, 0.8)
    return {"evs0": evs0, "evs1": evs1, "stage0": stage0, "stage1": stage1,
            "pain0": pain0, "pain1": _clamp(pain0 + rng.gauss(-2, 1.8), 0, 10),
            "func0": func0, "func1": _clamp(func0 + rng.gauss(10, 9), 0, 100),
            "fabq0": fabq0, "fabq1": fabq0 + rng.gauss(-1, 0.8),
            "depressed": rng.random() < 0.15, "anxious": rng.random() < 0.15,
            "preferences": sorted(rng.sample(("walking", "brisk-walking", "swimming", "cycling", "dancing", "gym"),
                                             rng.randint(1, 3)))}


def _components(rng: random.Random, number: int, delivered: bool, last: bool) -> list[str]:
    if number == 1 and delivered:
        chosen = set(COMPONENTS) - ({"postcard"} if rng.random() < 0.3 else set())
    elif delivered:
        odds = {"reassurance": 0.6, "pa-counselling": 0.7, "stage-matched-counselling": 0.5,
                "brisk-walk-exposure": 0.8, "goal-setting": 0.6, "postcard": 0.5 if last else 0.0}
        chosen = {k for k, odd in odds.items() if rng.random() < odd} or {"brisk-walk-exposure"}
    else:
        chosen = {"reassurance"} | ({"pa-counselling"} if rng.random() < 0.5 else set())
    return [k for k in COMPONENTS if k in chosen]


def _sessions(rng: random.Random, start: date) -> list[dict[str, Any]]:
    n = rng.choice((2, 3, 3, 3, 4))
    day, out = start, []
    for number in range(1, n + 1):
        delivered = rng.random() < 0.9
        out.append({"number": number, "performed": _when(day, 8 + number), "etmi_delivered": delivered,
                    "components": _components(rng, number, delivered, number == n)})
        day += timedelta(days=rng.choice((7, 14, 14, 21)))
    return out


def _session_logs(rng: random.Random, p: dict[str, Any], sessions: list[dict[str, Any]]) -> tuple[list[Any], int]:
    """Session log responses (pain falls from intake to discharge; targets agreed at goal setting) and the
    latest agreed target."""
    week0, week1 = p["evs0"][0] * p["evs0"][1], p["evs1"][0] * p["evs1"][1]
    # above what the patient does already, up to the guideline's 150 min/week (kept there once reached)
    target = min(150, max(rng.choice((60, 90, 90, 120)), 30 * (week0 // 30 + 1)))
    logs, progressing = [], week1 > week0
    for s in sessions:
        share = s["number"] / len(sessions)
        answers: dict[str, Any] = {"session.number": s["number"], "session.etmi_delivered": s["etmi_delivered"],
                                   "session.walk_minutes": 5 * _clamp(1 + s["number"] + rng.gauss(0, 1), 1, 6),
                                   "session.pain_nrs": _clamp(p["pain0"] + (p["pain1"] - p["pain0"]) * share
                                                              + rng.gauss(0, 0.7), 0, 10)}
        if "goal-setting" in s["components"]:
            if s["number"] > 1 and progressing:
                target = min(150, target + 30)
            answers["session.goal_minutes_week"] = target
        day = date.fromisoformat(s["performed"][:10])
        logs.append({"response_id": f"session-{s['number']}", "questionnaire": "session",
                     "authored": _when(day, 12), "answers": answers})
    return logs, target


def synthetic_episode(index: int, seed: int = 2026) -> dict[str, Any]:
    """Episode number ``index`` of the cohort for ``seed``: intake, 2-4 sessions, one goal, discharge."""
    rng = random.Random(seed * 1_000_003 + index)
    start = date(2026, 1, 5) + timedelta(days=rng.randrange(0, 300))
    p = _patient(rng)
    sessions = _sessions(rng, start)
    logs, target = _session_logs(rng, p, sessions)
    week0, week1 = p["evs0"][0] * p["evs0"][1], p["evs1"][0] * p["evs1"][1]
    achieved = "achieved" if week1 >= target else ("in-progress" if week1 > week0 else "not-achieved")
    last = date.fromisoformat(sessions[-1]["performed"][:10])
    first_target = next((r["answers"]["session.goal_minutes_week"] for r in logs
                         if "session.goal_minutes_week" in r["answers"]), target)
    return {
        "episode_id": f"EP-{seed}-{index:06d}",
        "patient": {"system": "urn:oid:2.16.840.1.113883.3.7777.1", "value": f"P-{seed}-{index:06d}"},
        "start": start.isoformat(), "status": "completed", "end": last.isoformat(),
        "sessions": sessions,
        "responses": [
            {"response_id": "intake", "questionnaire": "intake", "authored": _when(start, 8),
             "answers": _intake(rng, p)},
            *logs,
            {"response_id": "discharge", "questionnaire": "outcome", "authored": _when(last, 13),
             "answers": _discharge(rng, p, achieved)},
        ],
        "goals": [{"goal_id": "walk", "description": "Brisk walking, minutes per week as agreed in the sessions",
                   "target_minutes_per_week": first_target, "start": start.isoformat(),
                   "due": (start + timedelta(days=56)).isoformat(),
                   "lifecycle_status": "completed" if achieved == "achieved" else "active"}],
        "scores": [{"score_id": "fab-baseline", "kind": "fear-avoidance", "effective": _when(start, 8),
                    "value": _clamp(p["fabq0"] / 6 * 100 + rng.gauss(0, 8), 0, 100)},
                   {"score_id": "fab-discharge", "kind": "fear-avoidance", "effective": _when(last, 13),
                    "value": _clamp(p["fabq1"] / 6 * 100 + rng.gauss(0, 8), 0, 100)}],
    }
