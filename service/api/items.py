# mypy: disable-error-code="untyped-decorator"
"""Parts of an episode written one at a time: sessions, questionnaire responses, goals, scores, stage.

Each endpoint parses, authorizes and calls the use-case: a change of the stored payload
(``service/episodes/items.py``) written by ``EpisodeWriter.amend``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from mappings import canonical as c
from mappings.questionnaire import questionnaire_kind
from service.api.responses import WriteResultSchema, errors
from service.api.routes_common import ApiBlueprint, caller, require_json_body, respond
from service.api.schemas import (
    GoalSchema,
    GoalStatusSchema,
    QuestionnaireResponseIn,
    ScoreBatchSchema,
    ScoreSchema,
    SessionSchema,
    StageSchema,
)
from service.caller import authorize, current, with_agent
from service.episodes.items import add, all_of, replace
from service.episodes.writes import Change, EpisodeWriter
from service.errors import ApiError

bp = ApiBlueprint("episode-items", __name__, url_prefix="/api/v1/episodes",
               description="Sessions, questionnaire responses, goals, outcome scores and stage of change")
bp.before_request(require_json_body)


def _amend(episode_id: str, rtype: str, interaction: str, change: Change) -> Response:
    limit = authorize(rtype, interaction)
    writer = EpisodeWriter(current().episodes)
    return respond(writer.amend(episode_id, change, with_agent(caller(limit)), request.get_json()))


@bp.route("/<episode_id>/sessions", methods=["POST"])
@bp.arguments(SessionSchema())
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def post_session(item: dict[str, Any], episode_id: str) -> Response:
    """Record a session (idempotent on its number)."""
    return _amend(episode_id, "Procedure", "c", add("sessions", "number", item))


@bp.route("/<episode_id>/questionnaire-responses", methods=["POST"])
@bp.arguments(QuestionnaireResponseIn())
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def post_response(item: dict[str, Any], episode_id: str) -> Response:
    """Answers by linkId to a pinned ETMI Questionnaire (``url|version``)."""
    url, _, version = item["questionnaire"].partition("|")
    kind = questionnaire_kind(url)
    if kind is None:
        raise ApiError(422, f"not an ETMI Questionnaire: {url!r}", expression="questionnaire")
    if version != c.QUESTIONNAIRE_VERSION:
        raise ApiError(422, f"questionnaire version must be pinned to {c.QUESTIONNAIRE_VERSION}",
                       expression="questionnaire")
    stored = {**item, "questionnaire": kind}
    return _amend(episode_id, "QuestionnaireResponse", "c", add("responses", "response_id", stored))


@bp.route("/<episode_id>/goals", methods=["POST"])
@bp.arguments(GoalSchema())
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def post_goal(item: dict[str, Any], episode_id: str) -> Response:
    """Create an activity goal (idempotent on goal_id)."""
    return _amend(episode_id, "Goal", "c", add("goals", "goal_id", item))


@bp.route("/<episode_id>/goals/<goal_id>", methods=["PUT"])
@bp.arguments(GoalSchema())
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def put_goal(item: dict[str, Any], episode_id: str, goal_id: str) -> Response:
    """Replace an activity goal (If-Match: the episode's ETag)."""
    if item["goal_id"] != goal_id:
        raise ApiError(422, "goal_id in the body differs from the URL", expression="goal_id")
    return _amend(episode_id, "Goal", "u", replace("goals", "goal_id", goal_id, lambda _old: item))


@bp.route("/<episode_id>/goals/<goal_id>/status", methods=["PUT"])
@bp.arguments(GoalStatusSchema())
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def put_goal_status(item: dict[str, Any], episode_id: str, goal_id: str) -> Response:
    """Change a goal's lifecycle status (and achievement status)."""
    def update(old: dict[str, Any]) -> dict[str, Any]:
        new = {**old, "lifecycle_status": item["lifecycle_status"]}
        if "achievement_status" in item:
            new["achievement_status"] = item["achievement_status"]
        return new
    return _amend(episode_id, "Goal", "u", replace("goals", "goal_id", goal_id, update))


@bp.route("/<episode_id>/outcome-scores", methods=["POST"])
@bp.arguments(ScoreSchema())
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def post_score(item: dict[str, Any], episode_id: str) -> Response:
    """Record one outcome score (idempotent on score_id)."""
    return _amend(episode_id, "Observation", "c", add("scores", "score_id", item))


@bp.route("/<episode_id>/outcome-scores/batch", methods=["POST"])
@bp.arguments(ScoreBatchSchema())
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def post_scores(batch: dict[str, Any], episode_id: str) -> Response:
    """Record several outcome scores at once: all are stored, or none."""
    return _amend(episode_id, "Observation", "c", all_of([add("scores", "score_id", s) for s in batch["scores"]]))


@bp.route("/<episode_id>/stage-of-change", methods=["POST"])
@bp.arguments(StageSchema())
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def post_stage(item: dict[str, Any], episode_id: str) -> Response:
    """Record the exercise stage of change (an Observation with an ETMI TTM stage code)."""
    score = {"score_id": item["score_id"], "kind": "ttm-stage", "value": item["stage"], "effective": item["effective"]}
    return _amend(episode_id, "Observation", "c", add("scores", "score_id", score))
