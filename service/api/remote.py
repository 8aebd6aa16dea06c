"""EHR edits pulled by the sync workers, stored as the new local state (``SyncStatePort.apply_remote``).

An edited Goal replaces the episode's goal with the same business id; an edited CarePlan sets the
episode's status and end, and keeps as the clinician's choice each activity status that differs from
what the sessions give (``mappings.careplan.chosen_activity_statuses``). The
write runs the same mapping, validation and store path as an API write, audited as ``sync:<target>``,
without an outbox entry: the EHR already holds that state.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any

from mappings.careplan import careplan_from_fhir, chosen_activity_statuses
from mappings.domain import ActivityGoal
from mappings.errors import MappingError
from mappings.goal import goal_from_fhir
from mappings.payload import episode_from_json
from mappings.refs import local_part
from service.api.writes import Caller, EpisodeWriter
from service.errors import ApiError
from service.wiring import Context

log = logging.getLogger("etmi.sync.apply")


def goal_payload(goal: ActivityGoal) -> dict[str, Any]:
    out = {k: v for k, v in dataclasses.asdict(goal).items() if v is not None}
    return out


def apply_remote(ctx: Context, target: str, resource: dict[str, Any]) -> bool:
    """Store an EHR-edited Goal or CarePlan; False when it is not an ETMI resource known here."""
    rtype = resource.get("resourceType")
    caller = Caller(actor=f"sync:{target}", request_id=uuid.uuid4().hex, enqueue=False)
    try:
        if rtype == "Goal":
            goal = goal_from_fhir(resource)
            parts = local_part(resource, "goal")
            assert parts is not None
            new = goal_payload(goal)

            def change(payload: dict[str, Any]) -> dict[str, Any]:
                goals = payload.get("goals", [])
                index = next((i for i, g in enumerate(goals) if g.get("goal_id") == goal.goal_id), None)
                if index is None:
                    raise ApiError(404, "goal not known")
                goals[index] = new
                return payload
            EpisodeWriter(ctx).amend(parts[0], change, caller, resource)
            return True
        if rtype == "CarePlan":
            state = careplan_from_fhir(resource)

            def change_plan(payload: dict[str, Any]) -> dict[str, Any]:
                payload["status"] = state.status
                if state.end:
                    payload["end"] = state.end
                payload.pop("activity_statuses", None)
                chosen = chosen_activity_statuses(episode_from_json(payload), state)
                if chosen:
                    payload["activity_statuses"] = chosen
                return payload
            EpisodeWriter(ctx).amend(state.episode_id, change_plan, caller, resource)
            return True
    except (MappingError, ApiError) as err:
        status = err.status if isinstance(err, ApiError) else 422
        log.warning("EHR edit not applied: %s", not_applied_reason(err, status), extra={
            "event": "remote_not_applied", "resource_type": rtype, "resource_id": resource.get("id"),
            "status": status, "error_type": type(err).__name__})
    return False


#: Reasons that name no value or business id (a 404's own message names the episode).
_REASONS = {404: "its episode or goal is not stored here", 409: "the episode kept changing concurrently"}


def not_applied_reason(err: MappingError | ApiError, status: int) -> str:
    """Why an EHR edit was refused: the rule and element path of each issue, or the kind of refusal."""
    if status == 422:
        return "invalid: " + "; ".join(f"{i.code} at {i.expression or '(resource)'}" for i in err.issues[:5])
    return _REASONS.get(status, f"refused with status {status}")

