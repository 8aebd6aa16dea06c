"""A seeded generator of realistic ETMI episode payloads (the format of ``examples/episode.json``).

Used by benchmarks, end-to-end sync tests and the demo. Same seed, same cohort. Distributions follow
the trials in the domain reference: 2-4 sessions (mean about 3), pain improving from about 6 to 3,
function (0-100, higher = better) improving by about 15, fear-avoidance falling, activity rising.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

STAGES = ("precontemplation", "contemplation", "preparation", "action", "maintenance")
COMPONENTS = ("reassurance", "pa-counselling", "stage-matched-counselling", "brisk-walk-exposure",
              "goal-setting", "postcard")
PHQ = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _fabq(rng: random.Random, level: float) -> dict[str, str]:
    return {f"fabq.pa{i}": str(_clamp(rng.gauss(level, 1.2), 0, 6)) for i in range(1, 6)}


def _when(day: date, hour: int) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00+02:00"


def synthetic_episode(index: int, seed: int = 2026) -> dict[str, Any]:
    """Episode number ``index`` of the cohort for ``seed``: intake, 2-4 sessions, one goal, discharge."""
    rng = random.Random(seed * 1_000_003 + index)
    start = date(2026, 1, 5) + timedelta(days=rng.randrange(0, 300))
    n_sessions = rng.choice((2, 3, 3, 3, 4))
    days = [start + timedelta(days=14 * i) for i in range(n_sessions)]
    pain0, func0, stage0 = _clamp(rng.gauss(6, 1.5), 1, 10), _clamp(rng.gauss(50, 12), 5, 95), rng.randrange(0, 3)
    target = rng.choice((90, 120, 150, 150))
    ep = f"EP-{seed}-{index:06d}"
    sessions = [{"number": i + 1, "performed": _when(d, 9 + i), "etmi_delivered": rng.random() < 0.9,
                 "components": sorted(rng.sample(COMPONENTS, rng.randint(2, 5)), key=COMPONENTS.index)}
                for i, d in enumerate(days)]
    intake = {"lbp.duration": "gt-3mo", "pain.nrs": pain0, "function.score": func0, **_fabq(rng, 4),
              "evs.days": rng.randint(0, 3), "evs.minutes": rng.choice((0, 10, 15, 20, 30)),
              "evs.strength_days": rng.randint(0, 2), "ttm.stage": STAGES[stage0],
              "beliefs.prognosis": rng.randint(2, 8), "phq2.q1": rng.choice(PHQ), "phq2.q2": rng.choice(PHQ),
              "gad2.q1": rng.choice(PHQ), "gad2.q2": rng.choice(PHQ)}
    achieved = rng.random() < 0.6
    discharge = {"pain.nrs": _clamp(pain0 - rng.gauss(3, 1.5), 0, 10),
                 "function.score": _clamp(func0 + rng.gauss(15, 8), 0, 100), **_fabq(rng, 2.5),
                 "evs.days": rng.randint(2, 6), "evs.minutes": rng.choice((20, 30, 40)),
                 "evs.strength_days": rng.randint(0, 3), "ttm.stage": STAGES[min(4, stage0 + rng.randint(1, 2))],
                 "goal.achieved": "achieved" if achieved else "not-achieved"}
    return {
        "episode_id": ep,
        "patient": {"system": "urn:oid:2.16.840.1.113883.3.7777.1", "value": f"P-{seed}-{index:06d}"},
        "start": start.isoformat(), "status": "completed", "end": days[-1].isoformat(),
        "sessions": sessions,
        "responses": [
            {"response_id": "intake", "questionnaire": "intake", "authored": _when(start, 8), "answers": intake},
            *[{"response_id": f"session-{s['number']}", "questionnaire": "session", "authored": _when(d, 12),
               "answers": {"session.number": s["number"], "session.etmi_delivered": s["etmi_delivered"],
                           "session.walk_minutes": rng.choice((5, 10, 15)), "session.pain_nrs": pain0}}
              for s, d in zip(sessions, days, strict=True)],
            {"response_id": "discharge", "questionnaire": "outcome", "authored": _when(days[-1], 13),
             "answers": discharge},
        ],
        "goals": [{"goal_id": "walk", "description": f"Brisk walking {target} minutes per week",
                   "target_minutes_per_week": target, "start": start.isoformat(),
                   "due": (start + timedelta(days=60)).isoformat(), "lifecycle_status": "completed",
                   "achievement_status": "achieved" if achieved else "not-achieved"}],
        "scores": [{"score_id": "fab-baseline", "kind": "fear-avoidance", "value": _clamp(rng.gauss(60, 12), 0, 100),
                    "effective": _when(start, 8)}],
    }
