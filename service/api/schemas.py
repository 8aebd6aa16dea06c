"""Marshmallow schemas of the ``/api/v1`` API: the documented episode payload and its parts.

They check shapes and types without coercion (an integer stays an integer, a date stays a string);
``mappings.payload.episode_from_json`` then applies the domain rules. Unknown fields are refused.
"""

from __future__ import annotations

from typing import Any, get_args

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema
from marshmallow.types import UnknownOption

from mappings import canonical as c
from mappings.domain import ActivityStatus, EpisodeStatus, GoalAchievement, GoalLifecycle, SessionComponent
from mappings.errors import MappingError
from mappings.payload import episode_from_json
from service import limits
from service.api.quickload import Load, Unsure, quick_loader
from service.episodes.checks import checked

LOCAL_ID: dict[str, Any] = {"description": "1-40 letters, digits, '.', '-' or '_'"}
DATE = {"format": "date", "description": "FHIR date YYYY-MM-DD"}
DATETIME = {"format": "date-time", "description": "FHIR dateTime with a zone, e.g. 2026-01-05T09:00:00+02:00"}
COMPONENTS = get_args(SessionComponent)
LIFECYCLE = get_args(GoalLifecycle)
ACHIEVEMENT = get_args(GoalAchievement)


def _bool(**kw: Any) -> fields.Boolean:
    return fields.Boolean(truthy={True}, falsy={False}, **kw)


def _text(value: str) -> None:
    """No NUL and no lone surrogate (PostgreSQL and every JSON encoder refuse them)."""
    try:
        limits.clean_text(value, "", len(value))
    except limits.LimitError as err:
        raise ValidationError(err.message.removeprefix("value ")) from err


def text(most: int, **kw: Any) -> fields.String:
    """A string of at most ``most`` characters (the column or payload limit), without NUL."""
    return fields.String(validate=[validate.Length(max=most), _text], **kw)


def local_id(**kw: Any) -> fields.String:
    return fields.String(validate=validate.Regexp(r"^[A-Za-z0-9.\-_]{1,40}$"), metadata=LOCAL_ID, **kw)


def items(schema: type[Schema], key: str, **kw: Any) -> fields.List[Any]:
    """A payload list with its limit (``service.limits.EPISODE_LISTS``)."""
    return fields.List(fields.Nested(schema), validate=validate.Length(max=limits.EPISODE_LISTS[key]), **kw)


class PatientSchema(Schema):
    system = fields.String(required=True, validate=[validate.Length(min=1, max=limits.IDENTIFIER_MAX), _text],
                           metadata={"description": "business identifier system (URI)"})
    value = fields.String(required=True, validate=[validate.Length(min=1, max=limits.IDENTIFIER_MAX), _text],
                          metadata={"description": "business identifier value"})


class SessionSchema(Schema):
    number = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=limits.INT32_MAX))
    performed = text(40, required=True, metadata=DATETIME)
    etmi_delivered = _bool(required=True)
    components = fields.List(fields.String(validate=validate.OneOf(COMPONENTS)),
                             validate=validate.Length(max=len(COMPONENTS)))


class ResponseSchema(Schema):
    response_id = local_id(required=True)
    questionnaire = fields.String(required=True, validate=validate.OneOf(("intake", "session", "outcome")))
    authored = text(40, required=True, metadata=DATETIME)
    status = fields.String(validate=validate.OneOf(("completed", "amended", "in-progress")))
    answers = fields.Dict(keys=text(200), values=fields.Raw(), required=True,
                          validate=validate.Length(max=limits.ANSWERS_MAX),
                          metadata={"description": "linkId -> value or list of values"})


class QuestionnaireResponseIn(Schema):
    """Answers by linkId against the pinned Questionnaire ``url|version``."""

    response_id = local_id(required=True)
    questionnaire = text(limits.IDENTIFIER_MAX, required=True, metadata={
        "description": f"canonical with version, e.g. {c.ETMI_Q_INTAKE}|{c.QUESTIONNAIRE_VERSION}"})
    authored = text(40, required=True, metadata=DATETIME)
    status = fields.String(validate=validate.OneOf(("completed", "amended", "in-progress")))
    answers = fields.Dict(keys=text(200), values=fields.Raw(), required=True,
                          validate=validate.Length(max=limits.ANSWERS_MAX),
                          metadata={"description": "linkId -> value or list of values"})


class GoalSchema(Schema):
    goal_id = local_id(required=True)
    description = text(limits.TEXT_MAX, required=True)
    target_minutes_per_week = fields.Integer(required=True, strict=True,
                                             validate=validate.Range(min=limits.INT64_MIN, max=limits.INT64_MAX),
                                             metadata={"description": "0-4200 min/week (LOINC 82290-8)"})
    start = text(10, required=True, metadata=DATE)
    due = text(10, metadata=DATE)
    lifecycle_status = fields.String(validate=validate.OneOf(LIFECYCLE))
    achievement_status = fields.String(validate=validate.OneOf(ACHIEVEMENT))


class GoalStatusSchema(Schema):
    lifecycle_status = fields.String(required=True, validate=validate.OneOf(LIFECYCLE))
    achievement_status = fields.String(validate=validate.OneOf(ACHIEVEMENT))


class ScoreSchema(Schema):
    score_id = local_id(required=True)
    kind = text(40, required=True, metadata={"description": "pain, function, fabq-pa, ttm-stage, ..."})
    value = fields.Raw(required=True, metadata={"description": "a number, or a stage code for ttm-stage"})
    effective = text(40, required=True, metadata=DATETIME)


class ScoreBatchSchema(Schema):
    scores = fields.List(fields.Nested(ScoreSchema), required=True,
                         validate=validate.Length(min=1, max=limits.EPISODE_LISTS["scores"]))


class StageSchema(Schema):
    score_id = local_id(required=True)
    stage = fields.String(required=True, validate=validate.OneOf(c.TTM_STAGES))
    effective = text(40, required=True, metadata=DATETIME)


class EpisodeSchema(Schema):
    """The documented episode payload (examples/README.md)."""

    episode_id = local_id(required=True)
    patient = fields.Nested(PatientSchema, required=True)
    start = text(10, required=True, metadata=DATE)
    status = fields.String(validate=validate.OneOf(get_args(EpisodeStatus)))
    end = text(10, metadata=DATE)
    sessions = items(SessionSchema, "sessions")
    responses = items(ResponseSchema, "responses")
    goals = items(GoalSchema, "goals")
    scores = items(ScoreSchema, "scores")
    activity_statuses = fields.Dict(
        keys=fields.String(validate=validate.OneOf(COMPONENTS)),
        values=fields.String(validate=validate.OneOf(get_args(ActivityStatus))),
        metadata={"description": "CarePlan activity statuses a clinician chose, by component; the others follow "
                                 "from the sessions"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._quick = quick_loader(self, own_hooks=True)  # the fields; ``_quick_load`` runs the two hooks

    def load(self, data: Any, *, many: bool | None = None, partial: Any = None,
             unknown: UnknownOption | None = None) -> Any:
        """marshmallow's ``load``, after a quick path for a payload that passes every rule of the schema."""
        if self._quick is not None and many is None and partial is None and unknown is None:
            try:
                return self._quick_load(self._quick, data)
            except Unsure:
                pass  # marshmallow loads it again and words every error
        return super().load(data, many=many, partial=partial, unknown=unknown)

    @staticmethod
    def _quick_load(quick: Load, data: Any) -> dict[str, Any]:
        """The fields (``service.api.quickload``), ``_sizes`` and ``_domain_rules``; the episode parsed by the
        last is handed to ``checks.mapped`` with this very dict (``checks.checked``), so it is not parsed again."""
        out: dict[str, Any] = quick(data)
        try:
            limits.check_episode(out)
            episode = episode_from_json(out)
        except (limits.LimitError, MappingError) as err:
            raise Unsure from err
        checked(out, episode)
        return out

    @pre_load
    def _sizes(self, data: Any, **_kw: Any) -> Any:
        """List and text limits first: an oversized payload is refused before any item is read."""
        if isinstance(data, dict):
            try:
                limits.check_episode(data)
            except limits.LimitError as err:
                raise ValidationError({err.path: [err.message]}) from err
        return data

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _domain_rules(self, _data: dict[str, Any], original: Any, **_kw: Any) -> None:
        """The payload's domain rules too, so one 422 lists every problem."""
        try:
            episode_from_json(original)
        except MappingError as err:
            raise ValidationError({i.expression: [i.diagnostics] for i in err.issues}) from err

