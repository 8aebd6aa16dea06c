"""``/fhir/AuditEvent`` (FHIR search and read) over the audit trail's rows (``service.store.audit``), for
``system/`` scopes only; ``service/api/audit.py`` lists the same rows as JSON at ``/api/v1/audit``.

Every read, search, write and denial of patient data is a row holding its FHIR R4 AuditEvent; no
bodies, names, identifiers, search values or tokens are recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict

from service import limits
from service.caller import current, operator
from service.errors import ApiError
from service.fhir.capability import AUDIT_EVENT_PARAMS
from service.store import audit
from service.store.index import date_range

MAX_COUNT = 1000
#: /fhir/AuditEvent search parameters (the CapabilityStatement lists the same).
FHIR_PARAMS = dict(AUDIT_EVENT_PARAMS)
ACTION_OF_SUBTYPE = {"read": "read", "vread": "vread", "history-instance": "history", "search-type": "search",
                     "create": "create", "update": "update"}
AUDIT_ACTIONS = {"read": ("R",), "vread": ("R",), "history": ("R",), "search": ("E",), "create": ("C",),
                 "update": ("U",)}


def system_only(interaction: str, action: str) -> None:
    """The audit trail is for system scopes (``system/AuditEvent.rs``, ``system/*.rs``) only."""
    operator("AuditEvent", interaction, action, system_only=True)


def count(raw: str | None, default: int) -> int:
    return default if raw is None or raw == "" else limits.integer(raw, "_count", 0, MAX_COUNT)


def _row_id(text: str) -> int:
    """An AuditEvent id as the row id; -1 (matches nothing) for anything else."""
    try:
        return limits.integer(text, "_id", 1, limits.INT32_MAX)
    except limits.LimitError:
        return -1


def fhir_read(event_id: str) -> dict[str, Any]:
    system_only("r", "read")
    _total, events = current().store.audit_trail.events(audit.AuditQuery(ids=[_row_id(event_id)], count=1))
    if not events:
        raise ApiError(404, f"AuditEvent/{event_id} is not known")
    return events[0]


def _date(q: audit.AuditQuery, value: str) -> None:
    prefix = value[:2] if value[:2] in ("eq", "gt", "ge", "lt", "le") else "eq"
    try:
        low, high = date_range(value[2:] if value[:2] == prefix else value)
    except (ValueError, OverflowError) as err:  # DateError is a ValueError
        raise ApiError(400, f"date: {err}", expression="date") from err
    start, end = datetime.fromisoformat(low), datetime.fromisoformat(high)
    if prefix in ("eq", "ge", "gt"):
        q.since = max(q.since or start, end if prefix == "gt" else start)
    if prefix in ("eq", "le", "lt"):
        q.until = min(q.until or end, start if prefix == "lt" else end)


def _apply(q: audit.AuditQuery, name: str, value: str) -> None:
    values = [v.rsplit("|", 1)[-1] for v in value.split(",") if v]
    if name == "_id":
        q.ids += [_row_id(v) for v in values]
    elif name == "date":
        _date(q, value)
    elif name == "patient":
        q.patients += [v.removeprefix("Patient/") for v in values]
    elif name == "entity":
        for ref in values:
            rtype, _, rid = ref.partition("/")
            q.resource_types.append(rtype)
            q.resource_ids.append(rid.split("/_history", 1)[0])
    elif name == "subtype":
        q.actions += [ACTION_OF_SUBTYPE.get(v, "-") for v in values]
    elif name == "action":
        q.actions += [a for a, codes in AUDIT_ACTIONS.items() if set(codes) & set(values)] or ["-"]
    elif name == "outcome":
        q.outcomes += values
    elif name == "altid":
        q.actors += values


def fhir_search(args: MultiDict[str, str], base: str, path: str) -> dict[str, Any]:
    """A searchset of AuditEvents, newest first, with ``self``/``next``/``previous`` links."""
    system_only("s", "search")
    q = audit.AuditQuery(count=count(args.get("_count"), current().settings.page_size))
    for name, value in args.items(multi=True):
        if name == "_offset":
            q.offset = limits.integer(value, "_offset", 0, limits.INT32_MAX)
        elif name in FHIR_PARAMS:
            _apply(q, name, value)
        elif name not in ("_count", "_format", "_pretty", "_total"):
            raise ApiError(400, f"unknown search parameter {name!r} for AuditEvent", expression=name)
    total, events = current().store.audit_trail.events(q)
    root = base.rsplit("/fhir", 1)[0]
    kept = [(k, v) for k, v in args.items(multi=True) if k not in ("_offset", "_count")]

    def link(relation: str, offset: int) -> dict[str, str]:
        return {"relation": relation,
                "url": f"{root}{path}?{urlencode([*kept, ('_count', str(q.count)), ('_offset', str(offset))])}"}
    links = [link("self", q.offset)]
    if q.count and q.offset + q.count < total:
        links.append(link("next", q.offset + q.count))
    if q.offset:
        links.append(link("previous", max(q.offset - q.count, 0)))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
    if events:
        bundle["entry"] = [{"fullUrl": f"{base}/AuditEvent/{e['id']}", "resource": e, "search": {"mode": "match"}}
                           for e in events]
    return bundle
