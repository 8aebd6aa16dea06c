"""The dashboard's content, built from the FHIR resources the EHR returned (pure: no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.clinician import measures as m

Json = dict[str, Any]


@dataclass(frozen=True)
class Point:
    when: str  # ISO date (YYYY-MM-DD)
    value: float
    at: str = ""  # the full date-time: the order of two values of one day


@dataclass(frozen=True)
class Trend:
    measure: m.Measure
    points: tuple[Point, ...]
    verdict: str = ""
    change: float | None = None


@dataclass
class Dashboard:
    patient: Json
    sessions: list[str] = field(default_factory=list)
    stages: list[tuple[str, str]] = field(default_factory=list)
    trends: list[Trend] = field(default_factory=list)
    activity: tuple[Point, ...] = ()
    activity_goal: float | None = None
    careplans: list[Json] = field(default_factory=list)
    goals: list[Json] = field(default_factory=list)
    responses: list[Json] = field(default_factory=list)
    screens: list[tuple[str, float, str, bool]] = field(default_factory=list)


def stage_move(stages: list[tuple[str, str]]) -> str:
    """From the first to the latest stage: ``forward`` / ``back`` / ``unchanged`` ('' when not comparable)."""
    order = [s.capitalize() for s in m.STAGES]
    if len(stages) < 2 or stages[0][1] not in order or stages[-1][1] not in order:
        return ""
    step = order.index(stages[-1][1]) - order.index(stages[0][1])
    return "forward" if step > 0 else "back" if step < 0 else "unchanged"


def has_code(resource: Json, system: str, code: str, element: str = "code") -> bool:
    concept = resource.get(element)
    concepts = concept if isinstance(concept, list) else [concept]
    return any(c.get("system") == system and c.get("code") == code
               for cc in concepts if isinstance(cc, dict) for c in cc.get("coding", []) if isinstance(c, dict))


def display(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    for coding in concept.get("coding", []):
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return str(concept.get("text", ""))


def moment(resource: Json) -> str:
    when = resource.get("effectiveDateTime") or resource.get("performedDateTime") or resource.get("authored") or ""
    if not when and isinstance(resource.get("effectivePeriod"), dict):
        when = resource["effectivePeriod"].get("start", "")
    return str(when)


def day(resource: Json) -> str:
    return moment(resource)[:10]


def number(observation: Json) -> float | None:
    quantity = observation.get("valueQuantity")
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
        return float(quantity["value"])
    value = observation.get("valueInteger")
    return float(value) if isinstance(value, int | float) else None


def series(observations: list[Json], system: str, code: str) -> tuple[Point, ...]:
    points = [Point(day(o), v, moment(o)) for o in observations
              if has_code(o, system, code) and o.get("status") not in ("entered-in-error", "cancelled")
              and (v := number(o)) is not None]
    return tuple(sorted(points, key=lambda p: p.at))


def trend(observations: list[Json], measure: m.Measure) -> Trend:
    points = series(observations, measure.system, measure.code)
    if len(points) < 2:
        return Trend(measure, points, "not enough measurements" if points else "no measurements")
    first, last = points[0].value, points[-1].value
    return Trend(measure, points, m.verdict(measure, first, last), round(last - first, 1))


def activity_goal(goals: list[Json]) -> float | None:
    for goal in sorted(goals, key=lambda g: str(g.get("startDate", "")), reverse=True):
        for target in goal.get("target", []):
            if has_code(target, *m.ACTIVITY, element="measure"):
                quantity = target.get("detailQuantity", {})
                if isinstance(quantity.get("value"), int | float):
                    return float(quantity["value"])
    return None


def screens(observations: list[Json]) -> list[tuple[str, float, str, bool]]:
    """``(name, score, date, positive)`` of every PHQ-2 and GAD-2 total, cut-off 3 or more."""
    out = []
    for name, (system, code) in (("PHQ-2", m.PHQ2), ("GAD-2", m.GAD2)):
        for point in series(observations, system, code):
            out.append((name, point.value, point.when, point.value >= m.SCREEN_CUTOFF))
    return out


def build(resources: dict[str, list[Json]]) -> Dashboard:
    observations = resources.get("Observation", [])
    patient = (resources.get("Patient") or [{}])[0]
    board = Dashboard(patient=patient)
    board.sessions = sorted(day(p) for p in resources.get("Procedure", [])
                            if has_code(p, *m.ETMI_PROGRAM, element="category")
                            and p.get("status") != "entered-in-error")
    board.stages = [(day(o), display(o.get("valueCodeableConcept")))
                    for o in sorted(observations, key=moment) if has_code(o, *m.STAGE)]
    board.trends = [trend(observations, measure) for measure in m.TRENDS]
    board.activity = series(observations, *m.ACTIVITY)
    board.goals = resources.get("Goal", [])
    board.activity_goal = activity_goal(board.goals)
    board.careplans = resources.get("CarePlan", [])
    board.responses = sorted(resources.get("QuestionnaireResponse", []), key=moment)
    board.screens = screens(observations)
    return board
