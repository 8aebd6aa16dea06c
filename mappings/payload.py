"""The documented ETMI episode payload (JSON) -> ``Episode``, with every problem reported at once.

The format is described in ``examples/README.md`` with ``examples/episode.json``. Each issue's
``expression`` is the path in the payload (``sessions[1].performed``), so a clinic system can point
at the field to fix.
"""

from __future__ import annotations

import calendar
import re
from typing import Any, get_args

from mappings.domain import (
    ActivityGoal,
    ActivityStatus,
    AnswerValue,
    Episode,
    EpisodeStatus,
    GoalAchievement,
    GoalLifecycle,
    OutcomeScore,
    PatientRef,
    QuestionnaireAnswers,
    QuestionnaireKind,
    Session,
    SessionComponent,
)
from mappings.errors import Issue, MappingError
from mappings.outcome import OBSERVATION_KINDS, check_value

# FHIR R4 primitive formats (date, dateTime); a time needs a zone.
DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
DATETIME = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
                      r"(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?$")
LOCAL_ID = re.compile(r"^[A-Za-z0-9.\-_]{1,40}$")
# an identifier system is an absolute URI (RFC 3986 scheme, no white space), e.g. urn:oid:... or https://...
ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")


class Reader:
    """Reads typed fields out of nested JSON, collecting an Issue per problem instead of stopping."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def fail(self, path: str, message: str, code: str = "invalid") -> None:
        self.issues.append(Issue("error", code, message, path))

    def field(self, obj: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...], required: bool = True,
              default: Any = None) -> Any:
        value = obj.get(key)
        if value is None:
            if required:
                self.fail(f"{path}.{key}" if path else key, f"{key} is required", "required")
            return default
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            self.fail(f"{path}.{key}" if path else key, f"{key} must be {_names(kind)}, got {type(value).__name__}",
                      "structure")
            return default
        return value

    def pattern(self, obj: dict[str, Any], key: str, path: str, regex: re.Pattern[str], what: str,
                required: bool = True) -> str | None:
        value: str | None = self.field(obj, key, path, str, required)
        if value is not None and not (regex.match(value) and (regex not in (DATE, DATETIME) or _calendar_day(value))):
            self.fail(f"{path}.{key}" if path else key, f"{key} must be {what}, got {value!r}", "value")
            return None
        return value

    def choice(self, obj: dict[str, Any], key: str, path: str, allowed: tuple[str, ...], default: str | None,
               required: bool = True) -> Any:
        """A code from ``allowed``; absent: ``default`` if one is given, else an issue when ``required``."""
        value = self.field(obj, key, path, str, required=required and default is None, default=default)
        if value is not None and value not in allowed:
            self.fail(f"{path}.{key}" if path else key, f"{key} must be one of {', '.join(allowed)}", "code-invalid")
        return value

    def items(self, obj: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
        values = self.field(obj, key, "", list, required=False, default=[])
        out = []
        for i, v in enumerate(values):
            if isinstance(v, dict):
                out.append((f"{key}[{i}]", v))
            else:
                self.fail(f"{key}[{i}]", "must be an object", "structure")
        return out


def _calendar_day(value: str) -> bool:
    """A full date (or the date of a dateTime) is a day of the calendar: 2026-02-30 is not."""
    if len(value) < 10 or value[4:5] != "-" or value[7:8] != "-":
        return True  # a year or a year-month
    year, month, day = int(value[:4]), int(value[5:7]), int(value[8:10])
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    names = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean", "dict": "an object",
             "list": "a list"}
    return " or ".join(names.get(k.__name__, k.__name__) for k in _as_tuple(kind))


WHEN = "a FHIR dateTime with a time zone, e.g. 2026-01-05T09:00:00+02:00"


_COMPONENTS = get_args(SessionComponent)


def _session(r: Reader, path: str, s: dict[str, Any]) -> Session:
    components = r.field(s, "components", path, list, required=False, default=[])
    for i, comp in enumerate(components):
        if comp not in _COMPONENTS:
            r.fail(f"{path}.components[{i}]", f"unknown component {comp!r}; one of "
                   f"{', '.join(_COMPONENTS)}", "code-invalid")
    return Session(number=r.field(s, "number", path, int, default=0),
                   performed=r.pattern(s, "performed", path, DATETIME, WHEN) or "",
                   etmi_delivered=r.field(s, "etmi_delivered", path, bool, default=False),
                   components=tuple(components))


def _answers(r: Reader, path: str, raw: dict[str, Any]) -> tuple[tuple[str, tuple[AnswerValue, ...]], ...]:
    out = []
    for link, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if not values or any(not isinstance(v, (int, float, bool, str)) for v in values):
            r.fail(f"{path}.{link}", "an answer is a number, boolean or string, or a non-empty list of them",
                   "structure")
            continue
        out.append((link, tuple(values)))
    return tuple(out)


def _response(r: Reader, path: str, q: dict[str, Any]) -> QuestionnaireAnswers:
    answers = r.field(q, "answers", path, dict, default={})
    return QuestionnaireAnswers(
        response_id=r.pattern(q, "response_id", path, LOCAL_ID, "1-40 letters, digits, '.', '-' or '_'") or "",
        questionnaire=r.choice(q, "questionnaire", path, get_args(QuestionnaireKind), None),
        authored=r.pattern(q, "authored", path, DATETIME, WHEN) or "",
        answers=_answers(r, f"{path}.answers", answers),
        status=r.choice(q, "status", path, ("completed", "amended", "in-progress"), "completed"),
    )


def _goal(r: Reader, path: str, g: dict[str, Any]) -> ActivityGoal:
    target = r.field(g, "target_minutes_per_week", path, int, default=None)
    if target is not None:
        r.issues += check_value(OBSERVATION_KINDS["evs-min-per-week"], target, f"{path}.target_minutes_per_week")
    return ActivityGoal(
        goal_id=r.pattern(g, "goal_id", path, LOCAL_ID, "1-40 letters, digits, '.', '-' or '_'") or "",
        description=r.field(g, "description", path, str, default=""),
        target_minutes_per_week=target or 0,
        start=r.pattern(g, "start", path, DATE, "a FHIR date (YYYY-MM-DD)") or "",
        due=r.pattern(g, "due", path, DATE, "a FHIR date (YYYY-MM-DD)", required=False),
        lifecycle_status=r.choice(g, "lifecycle_status", path, get_args(GoalLifecycle), "active"),
        achievement_status=r.choice(g, "achievement_status", path, get_args(GoalAchievement), None, required=False),
    )


def _score(r: Reader, path: str, s: dict[str, Any]) -> OutcomeScore:
    return OutcomeScore(score_id=r.pattern(s, "score_id", path, LOCAL_ID, "1-40 letters, digits, '.', '-' or '_'")
                        or "", kind=r.field(s, "kind", path, str, default=""),
                        value=r.field(s, "value", path, (int, float, str), default=0),
                        effective=r.pattern(s, "effective", path, DATETIME, WHEN) or "")


def _activity_statuses(r: Reader, data: dict[str, Any]) -> tuple[tuple[SessionComponent, ActivityStatus], ...]:
    chosen = r.field(data, "activity_statuses", "", dict, required=False, default={})
    for key, status in chosen.items():
        if key not in get_args(SessionComponent):
            r.fail(f"activity_statuses.{key}", f"unknown component {key!r}; one of "
                   f"{', '.join(get_args(SessionComponent))}", "code-invalid")
        elif status not in get_args(ActivityStatus):
            r.fail(f"activity_statuses.{key}", f"must be a CarePlan activity status: "
                   f"{', '.join(get_args(ActivityStatus))}", "code-invalid")
    return tuple(sorted(chosen.items()))


def _unique(r: Reader, key: str, values: list[Any]) -> None:
    for i, v in enumerate(values):
        if v in values[:i]:
            r.fail(f"{key}[{i}]", f"duplicate {v!r}: each must be unique within the episode", "duplicate")


def episode_from_json(data: Any) -> Episode:
    """Parse and check an episode payload; raises ``MappingError`` listing every problem."""
    r = Reader()
    if not isinstance(data, dict):
        raise MappingError([Issue("error", "structure", "the payload must be a JSON object", "$")])
    patient = r.field(data, "patient", "", dict, default={})
    sessions = [_session(r, p, s) for p, s in r.items(data, "sessions")]
    responses = [_response(r, p, q) for p, q in r.items(data, "responses")]
    goals = [_goal(r, p, g) for p, g in r.items(data, "goals")]
    scores = [_score(r, p, s) for p, s in r.items(data, "scores")]
    _unique(r, "sessions", [s.number for s in sessions])
    _unique(r, "responses", [q.response_id for q in responses])
    _unique(r, "goals", [g.goal_id for g in goals])
    _unique(r, "scores", [s.score_id for s in scores])
    episode = Episode(
        episode_id=r.pattern(data, "episode_id", "", LOCAL_ID, "1-40 letters, digits, '.', '-' or '_'") or "",
        patient=PatientRef(system=r.pattern(patient, "system", "patient", ABSOLUTE_URI,
                                            "an absolute URI (e.g. urn:oid:... or https://...)") or "",
                           value=r.field(patient, "value", "patient", str, default="")),
        start=r.pattern(data, "start", "", DATE, "a FHIR date (YYYY-MM-DD)") or "",
        status=r.choice(data, "status", "", get_args(EpisodeStatus), "active"),
        end=r.pattern(data, "end", "", DATE, "a FHIR date (YYYY-MM-DD)", required=False),
        sessions=tuple(sessions), responses=tuple(responses), goals=tuple(goals), scores=tuple(scores),
        activity_statuses=_activity_statuses(r, data),
    )
    if r.issues:
        raise MappingError(r.issues)
    return episode
