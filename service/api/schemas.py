"""Marshmallow schemas of the ``/api/v1`` API: the documented episode payload and its parts.

They check shapes and types without coercion (an integer stays an integer, a date stays a string);
``mappings.payload.episode_from_json`` then applies the domain rules. Unknown fields are refused.
"""

from __future__ import annotations

from typing import Any, get_args

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from mappings import canonical as c
from mappings.domain import ActivityStatus, EpisodeStatus, GoalAchievement, GoalLifecycle, SessionComponent
from mappings.errors import MappingError
from mappings.payload import episode_from_json

LOCAL_ID = {"pattern": r"^[A-Za-z0-9.\-_]{1,40}$"}
DATE = {"format": "date", "description": "FHIR date YYYY-MM-DD"}
DATETIME = {"format": "date-time", "description": "FHIR dateTime with a zone, e.g. 2026-01-05T09:00:00+02:00"}
COMPONENTS = get_args(SessionComponent)
LIFECYCLE = get_args(GoalLifecycle)
ACHIEVEMENT = get_args(GoalAchievement)


def _bool(**kw: Any) -> fields.Boolean:
    return fields.Boolean(truthy={True}, falsy={False}, **kw)


class PatientSchema(Schema):
    system = fields.String(required=True, metadata={"description": "business identifier system (URI)"})
    value = fields.String(required=True, metadata={"description": "business identifier value"})


class SessionSchema(Schema):
    number = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    performed = fields.String(required=True, metadata=DATETIME)
    etmi_delivered = _bool(required=True)
    components = fields.List(fields.String(validate=validate.OneOf(COMPONENTS)))


class ResponseSchema(Schema):
    response_id = fields.String(required=True, metadata=LOCAL_ID)
    questionnaire = fields.String(required=True, validate=validate.OneOf(("intake", "session", "outcome")))
    authored = fields.String(required=True, metadata=DATETIME)
    status = fields.String(validate=validate.OneOf(("completed", "amended", "in-progress")))
    answers = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True,
                          metadata={"description": "linkId -> value or list of values"})


class QuestionnaireResponseIn(Schema):
    """Answers by linkId against the pinned Questionnaire ``url|version``."""

    response_id = fields.String(required=True, metadata=LOCAL_ID)
    questionnaire = fields.String(required=True, metadata={
        "description": f"canonical with version, e.g. {c.ETMI_Q_INTAKE}|{c.QUESTIONNAIRE_VERSION}"})
    authored = fields.String(required=True, metadata=DATETIME)
    status = fields.String(validate=validate.OneOf(("completed", "amended", "in-progress")))
    answers = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True)


class GoalSchema(Schema):
    goal_id = fields.String(required=True, metadata=LOCAL_ID)
    description = fields.String(required=True)
    target_minutes_per_week = fields.Integer(required=True, strict=True)
    start = fields.String(required=True, metadata=DATE)
    due = fields.String(metadata=DATE)
    lifecycle_status = fields.String(validate=validate.OneOf(LIFECYCLE))
    achievement_status = fields.String(validate=validate.OneOf(ACHIEVEMENT))


class GoalStatusSchema(Schema):
    lifecycle_status = fields.String(required=True, validate=validate.OneOf(LIFECYCLE))
    achievement_status = fields.String(validate=validate.OneOf(ACHIEVEMENT))


class ScoreSchema(Schema):
    score_id = fields.String(required=True, metadata=LOCAL_ID)
    kind = fields.String(required=True, metadata={"description": "pain, function, fabq-pa, ttm-stage, ..."})
    value = fields.Raw(required=True, metadata={"description": "a number, or a stage code for ttm-stage"})
    effective = fields.String(required=True, metadata=DATETIME)


class ScoreBatchSchema(Schema):
    scores = fields.List(fields.Nested(ScoreSchema), required=True, validate=validate.Length(min=1, max=500))


class StageSchema(Schema):
    score_id = fields.String(required=True, metadata=LOCAL_ID)
    stage = fields.String(required=True, validate=validate.OneOf(c.TTM_STAGES))
    effective = fields.String(required=True, metadata=DATETIME)


class EpisodeSchema(Schema):
    """The documented episode payload (examples/README.md)."""

    episode_id = fields.String(required=True, metadata=LOCAL_ID)
    patient = fields.Nested(PatientSchema, required=True)
    start = fields.String(required=True, metadata=DATE)
    status = fields.String(validate=validate.OneOf(get_args(EpisodeStatus)))
    end = fields.String(metadata=DATE)
    sessions = fields.List(fields.Nested(SessionSchema))
    responses = fields.List(fields.Nested(ResponseSchema))
    goals = fields.List(fields.Nested(GoalSchema))
    scores = fields.List(fields.Nested(ScoreSchema))
    activity_statuses = fields.Dict(
        keys=fields.String(validate=validate.OneOf(COMPONENTS)),
        values=fields.String(validate=validate.OneOf(get_args(ActivityStatus))),
        metadata={"description": "CarePlan activity statuses a clinician chose, by component; the others follow "
                                 "from the sessions"})

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _domain_rules(self, _data: dict[str, Any], original: Any, **_kw: Any) -> None:
        """The payload's domain rules too, so one 422 lists every problem."""
        try:
            episode_from_json(original)
        except MappingError as err:
            raise ValidationError({i.expression: [i.diagnostics] for i in err.issues}) from err


class WriteResultSchema(Schema):
    episode_id = fields.String()
    version = fields.Integer()
    patient_id = fields.String()
    outcome = fields.String(metadata={"description": "created, updated or unchanged"})
    outbox_id = fields.Integer(allow_none=True, metadata={"description": "the first of outbox_ids"})
    outbox_ids = fields.List(fields.Integer(), metadata={"description": "one outbox entry per sync target"})
    resources = fields.List(fields.Dict())
