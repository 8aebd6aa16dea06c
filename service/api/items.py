# mypy: disable-error-code="untyped-decorator"
"""Parts of an episode written one at a time: sessions, questionnaire responses, goals, scores, stage.

Each endpoint changes the stored episode payload and writes it through ``EpisodeWriter.amend``, so
every write runs the same mapping, validation, store and outbox path as a whole episode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from mappings import canonical as c
from mappings.questionnaire import questionnaire_kind
from service.api.responses import WriteResultSchema, errors
from service.api.routes_common import caller, require_json_body, respond
from service.api.schemas import (
    GoalSchema,
    GoalStatusSchema,
    QuestionnaireResponseIn,
    ScoreBatchSchema,
    ScoreSchema,
    SessionSchema,
    StageSchema,
)
from service.api.writes import EpisodeWriter
from service.caller import authorize, current, with_agent
from service.errors import ApiError

bp = Blueprint("episode-items", __name__, url_prefix="/api/v1/episodes",
               description="Sessions, questionnaire responses, goals, outcome scores and stage of change")
bp.before_request(require_json_body)
Change = Callable[[dict[str, Any]], dict[str, Any]]


def add(list_key: str, id_key: str, item: dict[str, Any]) -> Change:
    """Append ``item``; the same item again is a no-op (idempotent), another one with its id is 409."""
    def change(payload: dict[str, Any]) -> dict[str, Any]:
        existing = payload.setdefault(list_key, [])
        for old in existing:
            if old.get(id_key) == item[id_key]:
                if old != item:
                    raise ApiError(409, f"{list_key} {item[id_key]!r} exists with other content",
                                   expression=id_key)
                return payload
        existing.append(item)
        return payload
    return change


def replace(list_key: str, id_key: str, item_id: str, update: Callable[[dict[str, Any]], dict[str, Any]]) -> Change:
    def change(payload: dict[str, Any]) -> dict[str, Any]:
        for i, old in enumerate(payload.get(list_key, [])):
            if str(old.get(id_key)) == item_id:
                payload[list_key][i] = update(old)
                return payload
        raise ApiError(404, f"{list_key} {item_id!r} is not part of this episode")
    return change


def _amend(episode_id: str, rtype: str, interaction: str, change: Change) -> Response:
    limit = authorize(rtype, interaction)
    return respond(EpisodeWriter(current()).amend(episode_id, change, with_agent(caller(limit)), request.get_json()))


@bp.route("/<episode_id>/sessions", methods=["POST"])
@bp.arguments(SessionSchema)
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def post_session(item: dict[str, Any], episode_id: str) -> Response:
    """Record a session (idempotent on its number)."""
    return _amend(episode_id, "Procedure", "c", add("sessions", "number", item))


@bp.route("/<episode_id>/questionnaire-responses", methods=["POST"])
@bp.arguments(QuestionnaireResponseIn)
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
@bp.arguments(GoalSchema)
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def post_goal(item: dict[str, Any], episode_id: str) -> Response:
    """Create an activity goal (idempotent on goal_id)."""
    return _amend(episode_id, "Goal", "c", add("goals", "goal_id", item))


@bp.route("/<episode_id>/goals/<goal_id>", methods=["PUT"])
@bp.arguments(GoalSchema)
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def put_goal(item: dict[str, Any], episode_id: str, goal_id: str) -> Response:
    """Replace an activity goal (If-Match: the episode's ETag)."""
    if item["goal_id"] != goal_id:
        raise ApiError(422, "goal_id in the body differs from the URL", expression="goal_id")
    return _amend(episode_id, "Goal", "u", replace("goals", "goal_id", goal_id, lambda _old: item))


@bp.route("/<episode_id>/goals/<goal_id>/status", methods=["PUT"])
@bp.arguments(GoalStatusSchema)
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
@bp.arguments(ScoreSchema)
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def post_score(item: dict[str, Any], episode_id: str) -> Response:
    """Record one outcome score (idempotent on score_id)."""
    return _amend(episode_id, "Observation", "c", add("scores", "score_id", item))


@bp.route("/<episode_id>/outcome-scores/batch", methods=["POST"])
@bp.arguments(ScoreBatchSchema)
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def post_scores(batch: dict[str, Any], episode_id: str) -> Response:
    """Record several outcome scores at once: all are stored, or none."""
    changes = [add("scores", "score_id", s) for s in batch["scores"]]

    def change(payload: dict[str, Any]) -> dict[str, Any]:
        for one in changes:
            payload = one(payload)
        return payload
    return _amend(episode_id, "Observation", "c", change)


@bp.route("/<episode_id>/stage-of-change", methods=["POST"])
@bp.arguments(StageSchema)
@bp.response(200, WriteResultSchema)
@errors(bp, write=True)
def post_stage(item: dict[str, Any], episode_id: str) -> Response:
    """Record the exercise stage of change (an Observation with an ETMI TTM stage code)."""
    score = {"score_id": item["score_id"], "kind": "ttm-stage", "value": item["stage"], "effective": item["effective"]}
    return _amend(episode_id, "Observation", "c", add("scores", "score_id", score))
