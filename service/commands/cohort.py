"""A seeded synthetic cohort shaped like the 2026 implementation study (``docs/synthetic-cohort.md``).

Patients are spread over 13 clinics; about 17% receive ETMI-guided care (the episode of
:func:`service.synthetic.synthetic_episode`, 2-4 sessions, unchanged) and the rest usual care: more
sessions (4.1 +/- 1.5, at least 2), no ETMI components, goal or postcard, and a smaller improvement in
function and fear-avoidance than ETMI (pain changes alike). Activity stays as it was for half of the
usual-care patients, and their stage of change follows their activity as in ``service.synthetic``.
Same seed, same cohort: every random draw comes from a generator seeded by (seed, patient index).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from service.synthetic import stage_of, synthetic_episode

CLINICS = 13
ETMI_SHARE = 711 / 4193  # 17.0% of 4193 patients received ETMI-guided care
USUAL_SESSIONS = (4.1, 1.5)  # mean, SD: the estimated annual average of usual care
#: Share of the ETMI change in function and fear-avoidance that usual care gets (direction from the study,
#: size assumed: the study's adjusted differences are not in its abstract).
USUAL_EFFECT = 0.5


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def cohort_episode(index: int, seed: int) -> dict[str, Any]:
    """Patient ``index`` of the cohort for ``seed``: an ETMI or usual-care episode of one of 13 clinics."""
    rng = random.Random(f"etmi-cohort:{seed}:{index}")
    clinic = rng.randrange(CLINICS) + 1
    payload = synthetic_episode(index, seed)
    if rng.random() >= ETMI_SHARE:
        payload = _usual_care(rng, payload)
    payload["episode_id"] = f"EP-{seed}-C{clinic:02d}-{index:06d}"
    return payload


def arm_of(payload: dict[str, Any]) -> str:
    """``etmi`` when any session was delivered as ETMI, else ``usual-care``."""
    return "etmi" if any(s["etmi_delivered"] for s in payload["sessions"]) else "usual-care"


def clinic_of(payload: dict[str, Any]) -> int:
    return int(str(payload["episode_id"]).split("-")[2][1:])


def _usual_care(rng: random.Random, etmi: dict[str, Any]) -> dict[str, Any]:
    intake, *_, discharge = etmi["responses"]
    start = date.fromisoformat(etmi["start"])
    sessions: list[dict[str, Any]] = []
    day = start
    for number in range(1, _clamp(rng.gauss(*USUAL_SESSIONS), 2, 10) + 1):
        components = ["reassurance"] + (["pa-counselling"] if rng.random() < 0.3 else [])
        sessions.append({"number": number, "performed": f"{day.isoformat()}T{8 + number % 9:02d}:00:00+02:00",
                         "etmi_delivered": False, "components": components})
        day += timedelta(days=rng.choice((7, 7, 10, 14)))
    last = date.fromisoformat(sessions[-1]["performed"][:10])
    after = _discharge(rng, intake["answers"], discharge["answers"])
    logs = [_session_log(rng, s, intake["answers"], after, len(sessions)) for s in sessions]
    fab0, fab1 = (s["value"] for s in etmi["scores"])
    return {
        **etmi, "end": last.isoformat(), "sessions": sessions, "goals": [],
        "responses": [intake, *logs, {**discharge, "authored": f"{last.isoformat()}T13:00:00+02:00",
                                       "answers": after}],
        "scores": [etmi["scores"][0], {**etmi["scores"][1], "effective": f"{last.isoformat()}T13:00:00+02:00",
                                       "value": _clamp(fab0 + (fab1 - fab0) * USUAL_EFFECT, 0, 100)}],
    }


def _discharge(rng: random.Random, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The ETMI discharge answers with a smaller change in function and FABQ, no goal, and (for half the
    patients) the intake's activity."""
    out = {k: v for k, v in after.items() if k != "goal.achieved"}
    if "function.score" in out and "function.score" in before:
        out["function.score"] = _clamp(before["function.score"]
                                       + (out["function.score"] - before["function.score"]) * USUAL_EFFECT, 0, 100)
    for key in [k for k in out if k.startswith("fabq.") and k in before]:
        out[key] = str(_clamp(int(before[key]) + (int(out[key]) - int(before[key])) * USUAL_EFFECT, 0, 6))
    if rng.random() < 0.5:
        out["evs.days"], out["evs.minutes"] = before["evs.days"], before["evs.minutes"]
        out["ttm.stage"] = stage_of(rng, out["evs.days"], out["evs.minutes"],
                                    maintained=before.get("ttm.stage") == "maintenance")
    return out


def _session_log(rng: random.Random, session: dict[str, Any], before: dict[str, Any], after: dict[str, Any],
                 total: int) -> dict[str, Any]:
    share = session["number"] / total
    pain = before["pain.nrs"] + (after["pain.nrs"] - before["pain.nrs"]) * share + rng.gauss(0, 0.7)
    day = session["performed"][:10]
    return {"response_id": f"session-{session['number']}", "questionnaire": "session",
            "authored": f"{day}T12:00:00+02:00",
            "answers": {"session.number": session["number"], "session.etmi_delivered": False,
                        "session.pain_nrs": _clamp(pain, 0, 10)}}
