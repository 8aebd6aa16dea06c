"""The cards of the ETMI ``patient-view`` service, from the patient's CarePlans and outcome Observations.

A card (CDS Hooks 2.0 "Card attributes") when:

- the patient has an **active ETMI care plan** (a CarePlan with an ETMI business identifier, status
  ``active``): ``info``;
- **function worsened** by the MCID or more: the latest function score (0-100, higher = better) is 5 points
  or more below the earliest one given. docs/clinical-content.md, "Directions and thresholds": the MCID of
  the function score is a change of 5 points (stated there for improvement; applied here to worsening as
  well), and 8 points or more is beyond measurement error (MDC95), which the card says when it is;
  ``warning``;
- the latest **PHQ-2** or **GAD-2** total is **3 or more** (a positive screen, same table: PHQ-2 [B]
  Kroenke 2003; GAD-2 [C], to be checked before acting on it, which the card says): ``warning``.

Pain and fear-avoidance have no threshold in docs/clinical-content.md, so no card is made from them.
Every card links (type ``smart``) to the clinician app's launch URL. Summaries stay under 140 characters.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from mappings import canonical as c
from mappings.outcome import OBSERVATION_KINDS

Json = dict[str, Any]

FUNCTION_MCID = 5.0  # points, docs/clinical-content.md "Directions and thresholds" (Function: MCID)
FUNCTION_MDC95 = 8.0  # points, same row (MDC95)
SCREEN_POSITIVE = 3  # PHQ-2 / GAD-2 total, same table (3 or more = positive screen)
SOURCE = {"label": "ETMI (Enhanced Transtheoretical Model Intervention) service"}
SUMMARY_MAX = 139  # CDS Hooks 2.0: "<140-character summary"


def _code(kind: str) -> tuple[str, str]:
    k = OBSERVATION_KINDS[kind]
    return k.system, k.code


FUNCTION, PHQ2, GAD2 = _code("function"), _code("phq2"), _code("gad2")
SCREENS = {PHQ2: ("PHQ-2", "depression", ""), GAD2: ("GAD-2", "anxiety", " (GAD-2 cut-off: one source, check it "
                                                                         "before acting on it)")}


def is_etmi_careplan(resource: Json) -> bool:
    idents = resource.get("identifier") or []
    idents = [idents] if isinstance(idents, dict) else idents
    return resource.get("resourceType") == "CarePlan" and any(
        isinstance(i, dict) and i.get("system") == c.SID_RESOURCE and str(i.get("value", "")).endswith("/careplan")
        for i in idents)


def _codes(resource: Json) -> set[tuple[str, str]]:
    return {(str(cd.get("system")), str(cd.get("code"))) for cd in (resource.get("code") or {}).get("coding") or []
            if isinstance(cd, dict)}


def _when(resource: Json) -> str:
    return str(resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start") or "")


def _value(resource: Json) -> float | None:
    value = (resource.get("valueQuantity") or {}).get("value")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def series(observations: Iterable[Json], code: tuple[str, str]) -> list[tuple[str, float]]:
    """(effective time, value) of the final/amended Observations with ``code``, oldest first."""
    out = [(_when(o), v) for o in observations if code in _codes(o)
           and o.get("status") in ("final", "amended", "corrected") and (v := _value(o)) is not None and _when(o)]
    return sorted(out)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _day(value: Any) -> str:
    """The date part of an EHR's date/dateTime, shown only when it is one (no EHR text enters a card)."""
    text = str(value or "")[:10]
    return text if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else "an unknown date"


def _card(summary: str, indicator: str, detail: str, link: Json) -> Json:
    summary = summary if len(summary) <= SUMMARY_MAX else summary[:SUMMARY_MAX - 3] + "..."
    return {"uuid": str(uuid.uuid4()), "summary": summary, "indicator": indicator, "detail": detail,
            "source": dict(SOURCE), "links": [link]}


def careplan_card(careplans: Iterable[Json], link: Json) -> Json | None:
    active = [p for p in careplans if is_etmi_careplan(p) and p.get("status") == "active"]
    if not active:
        return None
    plan = max(active, key=lambda p: str((p.get("period") or {}).get("start") or ""))
    start = (plan.get("period") or {}).get("start")
    start = _day(start) if start else None
    acts = [a.get("detail", {}) for a in plan.get("activity", []) if isinstance(a, dict)]
    done = sum(1 for a in acts if a.get("status") == "completed")
    detail = (f"The patient follows the ETMI self-management plan for low back pain{f' since {start}' if start else ''}"
              f": {done} of {len(acts)} plan activities completed. Open the ETMI view for the stage of change, "
              "outcomes and goals.")
    return _card("Active ETMI self-management plan for low back pain", "info", detail, link)


def function_card(observations: list[Json], link: Json) -> Json | None:
    points = series(observations, FUNCTION)
    if len(points) < 2:
        return None
    (first_at, first), (last_at, last) = points[0], points[-1]
    drop = first - last
    if drop < FUNCTION_MCID:
        return None
    beyond = " (beyond measurement error, MDC95 8 points)" if drop >= FUNCTION_MDC95 else ""
    summary = f"Function worse by {_fmt(drop)} points ({_fmt(first)} to {_fmt(last)} of 100): at or past the MCID of 5"
    detail = (f"Function score (0-100, higher is better) fell from {_fmt(first)} ({_day(first_at)}) to {_fmt(last)} "
              f"({_day(last_at)}): a change of {_fmt(drop)} points{beyond}. The minimal clinically important "
              "difference is 5 points.")
    return _card(summary, "warning", detail, link)


def screen_cards(observations: list[Json], link: Json) -> list[Json]:
    cards = []
    for code, (name, what, caveat) in SCREENS.items():
        points = series(observations, code)
        if not points or points[-1][1] < SCREEN_POSITIVE:
            continue
        at, value = points[-1]
        summary = f"Positive {name} {what} screen: {_fmt(value)} of 6 (3 or more), {_day(at)}"
        detail = (f"The latest {name} total is {_fmt(value)} (3 or more is a positive screen){caveat}. A screen is "
                  "not a diagnosis: it calls for a clinician's assessment.")
        cards.append(_card(summary, "warning", detail, link))
    return cards


def cards_for(careplans: list[Json], observations: list[Json], launch_url: str, app_context: str) -> list[Json]:
    """Every card for one patient (an empty list: nothing to say)."""
    link = {"label": "Open the ETMI clinician view", "url": launch_url, "type": "smart", "appContext": app_context}
    found = [careplan_card(careplans, link), function_card(observations, link)]
    return [card for card in found if card is not None] + screen_cards(observations, link)
