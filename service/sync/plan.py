"""Outbox entries → an ordered plan of writes for one patient, independent of any target.

A ``Write`` holds the resource with LOCAL references (``Goal/<local id>``); they are rewritten per
target when the write is sent (``urn:uuid`` inside one transaction, the remote id otherwise). Writes
are ordered so that referenced resources come before the resources that reference them, and a
resource written twice in one plan is sent once, in its latest form.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from service.sync.ports import Json, OutboxEntryLike

WriteKind = Literal["create", "upsert", "delete"]
#: Types that the EHR owns: created if missing, never updated (the service keeps no demographics).
CREATE_ONLY = frozenset({"Patient"})


class PlanError(ValueError):
    """An outbox entry the sync engine cannot turn into writes (a bug upstream: dead-letter it)."""


@dataclass
class Write:
    resource_type: str
    local_id: str
    kind: WriteKind
    resource: Json
    condition: str | None
    entry_ids: list[int] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.resource_type}/{self.local_id}"

    def references(self) -> set[str]:
        return set(_references(self.resource))


def identifier_condition(resource: Json) -> str | None:
    """``identifier=system|value`` for the first business identifier (QuestionnaireResponse has one)."""
    idents = resource.get("identifier")
    if isinstance(idents, dict):
        idents = [idents]
    for ident in idents or []:
        if ident.get("system") and ident.get("value"):
            return f"identifier={quote(ident['system'], safe=':/')}|{quote(ident['value'], safe='')}"
    return None


def _references(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                yield v
            else:
                yield from _references(v)
    elif isinstance(value, list):
        for v in value:
            yield from _references(v)


def rewrite_references(value: Any, resolve: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        return {k: (resolve(v) if k == "reference" and isinstance(v, str) else rewrite_references(v, resolve))
                for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite_references(v, resolve) for v in value]
    return value


def _strip(resource: Json) -> Json:
    body = copy.deepcopy(resource)
    body.pop("id", None)
    meta = body.get("meta")
    if isinstance(meta, dict):
        for key in ("versionId", "lastUpdated", "source"):
            meta.pop(key, None)
        if not meta:
            body.pop("meta")
    return body


def _from_bundle(entry: OutboxEntryLike) -> list[Write]:
    bundle = entry.resource
    entries = bundle.get("entry", [])
    urn_to_local: dict[str, str] = {}
    for e in entries:
        res = e.get("resource", {})
        full, rtype = e.get("fullUrl", ""), res.get("resourceType")
        if not full or not rtype:
            raise PlanError(f"outbox entry {entry.id}: bundle entry without fullUrl or resourceType")
        local_id = res.get("id") or full.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
        urn_to_local[full] = f"{rtype}/{local_id}"
    writes = []
    for e in entries:
        res, request = e["resource"], e.get("request", {})
        rtype = res["resourceType"]
        local_ref = urn_to_local[e["fullUrl"]]
        body = rewrite_references(_strip(res), lambda r: urn_to_local.get(r, r))
        method = str(request.get("method", "PUT")).upper()
        kind: WriteKind = "delete" if method == "DELETE" else ("create" if method == "POST" else "upsert")
        if rtype in CREATE_ONLY and kind == "upsert":
            kind = "create"
        condition = request.get("ifNoneExist") or _query(request.get("url", "")) or identifier_condition(res)
        writes.append(Write(rtype, local_ref.split("/", 1)[1], kind, body, condition, [entry.id]))
    return writes


def _query(url: str) -> str | None:
    return url.split("?", 1)[1] if "?" in url else None


def writes_for_entry(entry: OutboxEntryLike) -> list[Write]:
    """The writes of one outbox entry (a transaction Bundle, or one create/update/delete)."""
    if entry.operation == "transaction" or entry.resource.get("resourceType") == "Bundle":
        return _from_bundle(entry)
    if entry.operation not in ("create", "update", "delete"):
        raise PlanError(f"outbox entry {entry.id}: unknown operation {entry.operation!r}")
    rtype = entry.resource.get("resourceType") or entry.resource_type
    kind: WriteKind = {"create": "create", "update": "upsert", "delete": "delete"}[entry.operation]  # type: ignore[assignment]
    if rtype in CREATE_ONLY and kind == "upsert":
        kind = "create"
    condition = identifier_condition(entry.resource)
    if condition is None and kind != "delete":
        raise PlanError(f"outbox entry {entry.id}: {rtype} has no business identifier")
    return [Write(rtype, entry.local_id, kind, _strip(entry.resource), condition, [entry.id])]


def plan_writes(entries: Sequence[OutboxEntryLike]) -> list[Write]:
    """All writes of a patient's entries: squashed per resource (latest wins), then ordered."""
    by_key: dict[str, Write] = {}
    for entry in entries:
        for write in writes_for_entry(entry):
            previous = by_key.pop(write.key, None)
            if previous is not None:
                write.entry_ids = sorted(set(previous.entry_ids) | set(write.entry_ids))
                if previous.kind == "create" and write.kind == "upsert" and write.resource_type in CREATE_ONLY:
                    write.kind = "create"
            by_key[write.key] = write
    return order_writes(list(by_key.values()))


def order_writes(writes: list[Write]) -> list[Write]:
    """Stable topological order: a write comes after every write it references (cycles: input order)."""
    keys = {w.key for w in writes}
    done: set[str] = set()
    out: list[Write] = []
    pending = list(writes)
    while pending:
        progressed = False
        for w in list(pending):
            deps = (w.references() & keys) - {w.key}
            if deps <= done:
                out.append(w)
                done.add(w.key)
                pending.remove(w)
                progressed = True
        if not progressed:  # a reference cycle: keep the given order for the rest
            out.extend(pending)
            break
    return out


def levels(writes: Sequence[Write]) -> list[list[Write]]:
    """Writes grouped so that each group references only earlier groups (for batch mode)."""
    keys = {w.key for w in writes}
    level: dict[str, int] = {}
    for w in writes:
        deps = (w.references() & keys) - {w.key}
        level[w.key] = 1 + max((level.get(d, 0) for d in deps), default=-1)
    groups: dict[int, list[Write]] = {}
    for w in writes:
        groups.setdefault(level[w.key], []).append(w)
    return [groups[i] for i in sorted(groups)]


def content_equal(ours: Json, remote: Json) -> bool:
    """Same clinical content, ignoring id, meta, narrative and reference targets (ids differ per server)."""
    return bool(_comparable(ours) == _comparable(remote))


def _comparable(resource: Json) -> Any:
    body = {k: v for k, v in resource.items() if k not in ("id", "meta", "text")}
    return rewrite_references(body, lambda _r: "*")
