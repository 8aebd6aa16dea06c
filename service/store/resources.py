"""FHIR resources as sent: versions, content hashes, the search index, read / vread / search."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from service.store.db import insert_rows, table
from service.store.index import instant_string
from service.store.models import FhirResourceRow, SearchToken
from service.store.prepared import PreparedBatch, content_hash, prepare

__all__ = ["Saved", "SearchQuery", "content_hash", "current_many", "history", "prepare", "read", "save_resource",
           "save_resources", "search"]

#: One search-parameter value: token ``(system or None, code)`` or date ``(prefix, low, high)``.
TokenValue = tuple[str | None, str | None]
DateValue = tuple[str, str, str]


@dataclass(frozen=True)
class Saved:
    resource_type: str
    resource_id: str
    version_id: int
    changed: bool


def save_resources(session: Session, batch: list[dict[str, Any]] | PreparedBatch, now: datetime) -> list[Saved]:
    """Store a new version of each resource whose content changed (a few statements for the batch).

    The stored copy gets ``meta.versionId`` and ``meta.lastUpdated``; unchanged resources keep theirs. A
    ``PreparedBatch`` (``prepare``, before the transaction) leaves only the version-dependent work here.
    """
    items = (batch if isinstance(batch, PreparedBatch) else prepare(batch)).items
    current = _current_versions(session, {(p.resource_type, p.resource_id) for p in items})
    saved, rows_out = [], []
    tokens_out: list[dict[str, Any]] = []  # built by ``prepare``, before the transaction
    updated = instant_string(now)
    for item in items:
        rtype, rid, digest, idx = item.resource_type, item.resource_id, item.digest, item.index
        old = current.get((rtype, rid))
        if old is not None and old[1] == digest:
            saved.append(Saved(rtype, rid, old[0], changed=False))
            continue
        version = old[0] + 1 if old else 1
        rows_out.append({"resource_type": rtype, "resource_id": rid, "version_id": version, "current": True,
                         "patient_id": idx.patient_id, "status": idx.status, "date_low": idx.date_low,
                         "date_high": idx.date_high, "last_updated": now, "resource": item.stored(version, updated),
                         "resource_hash": digest})
        tokens_out += item.tokens
        saved.append(Saved(rtype, rid, version, changed=True))
    _replace_current(session, [s for s in saved if s.changed and s.version_id > 1],
                     [current[(s.resource_type, s.resource_id)][2] for s in saved if s.changed and s.version_id > 1])
    conn = session.connection()  # Core inserts on the connection: one executemany per table (the ORM's bulk path
    # splits the rows by which columns are None, and its bookkeeping cost more than the rest of the write)
    insert_rows(conn, table(FhirResourceRow), rows_out)
    insert_rows(conn, table(SearchToken), tokens_out)
    return saved


#: built once (the statement objects are the compiled-cache key): types and ids bound as expanding lists
_CURRENT = select(FhirResourceRow.resource_type, FhirResourceRow.resource_id, FhirResourceRow.version_id,
                  FhirResourceRow.resource_hash, FhirResourceRow.pk, FhirResourceRow.current).where(
    FhirResourceRow.resource_type.in_(bindparam("types", expanding=True)),
    FhirResourceRow.resource_id.in_(bindparam("ids", expanding=True)))


def _current_versions(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str, int]]:
    """(type, id) -> (version, hash, pk) of the current version, in one statement for the batch.

    ``type IN (...) AND id IN (...)`` is served from the unique key (type, id, version) even on a database
    never analysed; the cross product of types and ids is narrowed to ``keys`` here. ``current`` is not in
    the query: with it, SQLite's planner without statistics picks ix_fhir_resource_current and scans every
    current resource of the type per write."""
    if not keys:
        return {}
    rows = session.connection().execute(_CURRENT, {"types": sorted({t for t, _ in keys}),
                                                   "ids": sorted({i for _, i in keys})})
    return {(rtype, rid): (version, digest, pk) for rtype, rid, version, digest, pk, is_current in rows
            if is_current and (rtype, rid) in keys}


def _replace_current(session: Session, replaced: list[Saved], old_pks: list[int]) -> None:
    if old_pks:  # by primary key (see save_resources)
        session.execute(update(FhirResourceRow).where(FhirResourceRow.pk.in_(old_pks)).values(current=False))
    by_type: dict[str, list[str]] = {}
    for s in replaced:
        by_type.setdefault(s.resource_type, []).append(s.resource_id)
    for rtype, rids in by_type.items():
        session.execute(delete(SearchToken).where(SearchToken.resource_type == rtype,
                                                  SearchToken.resource_id.in_(rids)))


def save_resource(session: Session, resource: dict[str, Any], now: datetime) -> Saved:
    return save_resources(session, [resource], now)[0]


def read(session: Session, rtype: str, rid: str, version: int | None = None) -> FhirResourceRow | None:
    query = select(FhirResourceRow).where(FhirResourceRow.resource_type == rtype, FhirResourceRow.resource_id == rid)
    query = query.where(FhirResourceRow.version_id == version) if version else query.where(FhirResourceRow.current)
    return session.scalar(query)


def history(session: Session, rtype: str, rid: str) -> list[FhirResourceRow]:
    return list(session.scalars(select(FhirResourceRow).where(
        FhirResourceRow.resource_type == rtype, FhirResourceRow.resource_id == rid)
        .order_by(FhirResourceRow.version_id.desc())))


@dataclass
class SearchQuery:
    """Parsed search criteria; each list holds OR-ed alternatives, separate criteria are AND-ed."""

    resource_type: str
    ids: list[str] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)
    tokens: list[tuple[str, list[TokenValue]]] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    dates: list[DateValue] = field(default_factory=list)
    last_updated: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    sort_desc: bool = False
    sort_by_date: bool = False
    count: int = 50
    offset: int = 0


def _range(prefix: str, low_col: Any, high_col: Any, low: Any, high: Any) -> Any:
    conditions = {
        "eq": and_(low_col >= low, high_col <= high), "ne": or_(low_col < low, high_col > high),
        "gt": high_col > high, "lt": low_col < low, "ge": high_col >= low, "le": low_col <= high,
        "sa": low_col > high, "eb": high_col < low,
    }
    return conditions[prefix]


def _filtered(q: SearchQuery) -> Select[FhirResourceRow]:
    row = FhirResourceRow
    query = select(row).where(row.resource_type == q.resource_type, row.current)
    if q.ids:
        query = query.where(row.resource_id.in_(q.ids))
    if q.patients:
        query = query.where(row.patient_id.in_(q.patients))
    if q.statuses:
        query = query.where(row.status.in_(q.statuses))
    for prefix, low, high in q.dates:
        query = query.where(_range(prefix, row.date_low, row.date_high, low, high))
    for prefix, lowdt, highdt in q.last_updated:
        query = query.where(_range(prefix, row.last_updated, row.last_updated, lowdt, highdt))
    for name, values in q.tokens:
        alternatives = [_token(system, code) for system, code in values]
        query = query.where(row.resource_id.in_(select(SearchToken.resource_id).where(
            SearchToken.resource_type == q.resource_type, SearchToken.name == name, or_(*alternatives))))
    return query


def _token(system: str | None, code: str | None) -> Any:
    conditions = []
    if system is not None:
        conditions.append(SearchToken.system == system)
    if code is not None:
        conditions.append(SearchToken.code == code)
    return and_(*conditions)


def search(session: Session, q: SearchQuery) -> tuple[int, list[FhirResourceRow]]:
    """The total number of matches and one page of them."""
    query = _filtered(q)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = FhirResourceRow.date_low if q.sort_by_date else FhirResourceRow.last_updated
    ordering = [order.desc(), FhirResourceRow.pk.desc()] if q.sort_desc else [order, FhirResourceRow.pk]
    rows = list(session.scalars(query.order_by(*ordering).offset(q.offset).limit(q.count))) if q.count else []
    return int(total), rows


def current_many(session: Session, rtype: str, ids: list[str]) -> list[FhirResourceRow]:
    if not ids:
        return []
    return list(session.scalars(select(FhirResourceRow).where(
        FhirResourceRow.resource_type == rtype, FhirResourceRow.resource_id.in_(ids), FhirResourceRow.current)))
