"""Apply an EHR edit (the ``RemoteEditPort`` the Puller is given): the pulled Goal or CarePlan, already
mapped by ``service/sync/pull.py``, becomes the episode's new state.

An edited Goal replaces the episode's goal with the same business id; an edited CarePlan sets the
episode's status and end, and keeps as the clinician's choice each activity status that differs from
what the sessions give (``mappings.careplan.chosen_activity_statuses``). The write runs the same mapping,
validation and store path as an API write, audited as ``sync:<target>``, without an outbox entry: the EHR
already holds that state. A refused edit is logged (type, id, status, rule and path; nothing identifying).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from mappings.careplan import chosen_activity_statuses
from mappings.domain import ActivityGoal, CarePlanState
from mappings.errors import MappingError
from mappings.payload import episode_from_json
from mappings.refs import local_part
from service.episodes.model import Caller, Deps
from service.episodes.writes import Change, EpisodeWriter
from service.errors import ApiError
from service.sync.ports import Json
from service.sync.pull import invalid_reason, not_applied

#: Reasons that name no value or business id (a 404's own message names the episode).
_REASONS = {404: "its episode or goal is not stored here", 409: "the episode kept changing concurrently"}


def goal_payload(goal: ActivityGoal) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(goal).items() if v is not None}


def _goal_change(goal: ActivityGoal) -> Change:
    new = goal_payload(goal)

    def change(payload: dict[str, Any]) -> dict[str, Any]:
        goals = payload.get("goals", [])
        index = next((i for i, g in enumerate(goals) if g.get("goal_id") == goal.goal_id), None)
        if index is None:
            raise ApiError(404, "goal not known")
        goals[index] = new
        return payload
    return change


def _plan_change(state: CarePlanState) -> Change:
    def change(payload: dict[str, Any]) -> dict[str, Any]:
        payload["status"] = state.status
        if state.end:
            payload["end"] = state.end
        payload.pop("activity_statuses", None)
        chosen = chosen_activity_statuses(episode_from_json(payload), state)
        if chosen:
            payload["activity_statuses"] = chosen
        return payload
    return change


class RemoteEdits:
    """``service.sync.ports.RemoteEditPort`` on the episode use-cases."""

    def __init__(self, deps: Deps) -> None:
        self.writer = EpisodeWriter(deps)

    def apply(self, target: str, resource_type: str, mapped: Any, resource: Json) -> bool:
        """Store an EHR-edited Goal (``mapped``: its ``ActivityGoal``) or CarePlan (its ``CarePlanState``);
        False when it is not an ETMI resource known here, or is refused."""
        caller = Caller(actor=f"sync:{target}", request_id=uuid.uuid4().hex, enqueue=False)
        try:
            if resource_type == "Goal" and isinstance(mapped, ActivityGoal):
                parts = local_part(resource, "goal")
                assert parts is not None  # the mapping found the business identifier
                self.writer.amend(parts[0], _goal_change(mapped), caller, resource)
                return True
            if resource_type == "CarePlan" and isinstance(mapped, CarePlanState):
                self.writer.amend(mapped.episode_id, _plan_change(mapped), caller, resource)
                return True
        except (MappingError, ApiError) as err:
            status = err.status if isinstance(err, ApiError) else 422
            not_applied(resource, not_applied_reason(err, status), status, type(err).__name__)
        return False


def not_applied_reason(err: MappingError | ApiError, status: int) -> str:
    """Why an EHR edit was refused: the rule and element path of each issue, or the kind of refusal."""
    if status == 422:
        return invalid_reason(err.issues)
    return _REASONS.get(status, f"refused with status {status}")
