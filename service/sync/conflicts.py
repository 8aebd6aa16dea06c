"""Conflict policy: what to do when the EHR changed a resource since the service last wrote it.

A conflict is a 409/412 on a write that carried ``If-Match`` (the target's answer to a stale
version; HAPI says 409, most others 412). The policy is chosen per resource type and can be
overridden per target (``conflicts = { Goal = "hold" }``):

- ``service-wins``: write ours again on top of the EHR's current version (outcome Observations).
- ``ehr-wins``: keep the EHR's version, drop ours, hand the EHR's version to the local store.
- ``ehr-wins:<element>,…``: ours, but with those elements taken from the EHR (CarePlan ``status``).
- ``hold``: send nothing for this resource; record the conflict for a clinician (Goal).

When the EHR's current content equals what we were sending, there is no conflict at all: our own
earlier write committed but its answer was lost. Every conflict is recorded.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from service.sync.plan import Write, content_equal
from service.sync.ports import Conflict, FhirError, NotFoundError, SyncStatePort
from service.sync.send import SendContext

DEFAULT_POLICIES: Mapping[str, str] = {
    "CarePlan": "ehr-wins:status",
    "Goal": "hold",
    "Observation": "service-wins",
    "QuestionnaireResponse": "service-wins",
    "Procedure": "service-wins",
    "Condition": "ehr-wins",
    "Patient": "ehr-wins",
}


def policy_for(resource_type: str, overrides: Mapping[str, str]) -> str:
    policy = overrides.get(resource_type) or DEFAULT_POLICIES.get(resource_type, "hold")
    if policy.split(":", 1)[0] not in ("service-wins", "ehr-wins", "hold"):
        raise ValueError(f"unknown conflict policy {policy!r} for {resource_type}")
    return policy


@dataclass
class Resolution:
    changed: bool = False
    held: list[Write] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


def resolve(writes: Sequence[Write], ctx: SendContext, state: SyncStatePort | None) -> Resolution:
    """Decide every stale write of a failed chunk; ``changed`` False: nothing to resolve (dead-letter)."""
    result = Resolution()
    for w in writes:
        known = ctx.remote(w.key)
        if w.kind != "upsert" or known is None or not known[1] or w.key in ctx.overrides.dropped:
            continue
        try:
            answer = ctx.server.read(w.resource_type, known[0])
            remote = answer.body or {}
            version = str(remote.get("meta", {}).get("versionId") or (answer.etag or "").removeprefix("W/").strip('"'))
        except NotFoundError:
            remote, version = {}, ""
        except FhirError:
            raise
        if remote and version == known[1]:
            continue
        _decide(w, remote, version, known[0], ctx, state, result)
    return result


def _decide(
    w: Write, remote: dict[str, object], version: str, remote_id: str, ctx: SendContext,
    state: SyncStatePort | None, result: Resolution,
) -> None:
    result.changed = True
    if remote and content_equal(w.resource, remote):
        ctx.overrides.version[w.key] = version
        _log(result, ctx, w, remote_id, "none", "already-applied", "resolved", remote)
        return
    policy = policy_for(w.resource_type, ctx.target.conflicts)
    kind, _, elements = policy.partition(":")
    if not remote:  # deleted in the EHR
        if kind == "service-wins":
            ctx.overrides.version[w.key] = ""
            _log(result, ctx, w, remote_id, policy, "recreated", "resolved", None)
        else:
            _hold_or_drop(w, ctx, result, remote_id, policy, None, hold=kind == "hold")
        return
    if kind == "service-wins":
        ctx.overrides.version[w.key] = version
        _log(result, ctx, w, remote_id, policy, "overwrote-ehr", "resolved", remote)
    elif kind == "ehr-wins" and elements:
        for element in elements.split(","):
            if element in remote:
                w.resource[element] = copy.deepcopy(remote[element])
            else:
                w.resource.pop(element, None)
        ctx.overrides.version[w.key] = version
        _log(result, ctx, w, remote_id, policy, f"merged ehr {elements}", "resolved", remote)
    elif kind == "ehr-wins":
        ctx.id_map.put(ctx.target.name, w.resource_type, w.local_id, remote_id, version)
        if state is not None:
            state.apply_remote(ctx.target.name, w.local_id, dict(remote))
        _hold_or_drop(w, ctx, result, remote_id, policy, remote, hold=False)
    else:
        _hold_or_drop(w, ctx, result, remote_id, policy, remote, hold=True)


def _hold_or_drop(
    w: Write, ctx: SendContext, result: Resolution, remote_id: str, policy: str,
    remote: dict[str, object] | None, hold: bool,
) -> None:
    ctx.overrides.dropped.add(w.key)
    if hold:
        result.held.append(w)
        _log(result, ctx, w, remote_id, policy, "held for clinician", "held", remote)
    else:
        _log(result, ctx, w, remote_id, policy, "kept ehr version", "resolved", remote)


def _log(
    result: Resolution, ctx: SendContext, w: Write, remote_id: str, policy: str, resolution: str,
    status: str, remote: dict[str, object] | None,
) -> None:
    result.conflicts.append(Conflict(
        target=ctx.target.name, resource_type=w.resource_type, local_id=w.local_id, remote_id=remote_id,
        policy=policy, resolution=resolution, status="held" if status == "held" else "resolved", at=ctx.now(),
        local=copy.deepcopy(w.resource), remote=dict(remote) if remote else None,
    ))
