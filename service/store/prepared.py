"""Resources made ready to store before the write transaction starts (pure, no database).

Everything about a resource that does not depend on what is stored is computed here, outside the write lock
(on SQLite one writer at a time holds it): its content hash, its search index (patient, status, date range,
token rows) and its JSON, serialised in two halves around ``meta``. Under the lock only the version is known
late; ``Prepared.stored`` splices ``meta`` (with ``versionId`` and ``lastUpdated``) between the halves. The
bytes are exactly ``orjson.dumps({**resource, "meta": {...}})`` (key order kept), handed to the JSON column
as an ``orjson.Fragment``, which the store's serialiser (``db._json_dumps``, orjson) copies as it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from service.store.index import ResourceIndex, index_resource

META = b'"meta":'


def content_hash(resource: dict[str, Any]) -> str:
    """The hash that tells a changed resource from an unchanged one (``meta.versionId`` and ``lastUpdated``
    left out)."""
    body = {k: v for k, v in resource.items() if k != "meta"}
    body["meta"] = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _inner(part: dict[str, Any]) -> bytes:
    """The members of a JSON object without its braces (b"" for an empty one)."""
    return orjson.dumps(part)[1:-1]


@dataclass(frozen=True)
class Prepared:
    """One resource ready to store: what the row and its search tokens hold, but the version."""

    resource: dict[str, Any]
    digest: str
    index: ResourceIndex
    head: bytes  # the members before "meta" (all of them when the resource has no meta)
    tail: bytes  # the members after "meta"
    resource_type: str
    resource_id: str
    tokens: tuple[dict[str, Any], ...]  # the rows of its search tokens

    def stored(self, version: int, last_updated: str) -> orjson.Fragment:
        """The stored JSON: the resource with ``meta.versionId`` and ``meta.lastUpdated`` set."""
        meta = orjson.dumps({**(self.resource.get("meta") or {}), "versionId": str(version),
                             "lastUpdated": last_updated})
        parts = [part for part in (self.head, META + meta, self.tail) if part]
        return orjson.Fragment(b"{" + b",".join(parts) + b"}")

    def token_rows(self) -> list[dict[str, Any]]:
        return list(self.tokens)


@dataclass(frozen=True)
class PreparedBatch:
    """The resources of one write, prepared (``service.episodes.ports.PreparedResources``)."""

    items: tuple[Prepared, ...]

    @property
    def resources(self) -> list[dict[str, Any]]:
        return [item.resource for item in self.items]


def prepare_one(resource: dict[str, Any]) -> Prepared:
    keys = list(resource)
    at = keys.index("meta") if "meta" in resource else len(keys)
    head = _inner({k: resource[k] for k in keys[:at]})
    tail = _inner({k: resource[k] for k in keys[at + 1:]})
    rtype, rid, index = str(resource["resourceType"]), str(resource["id"]), index_resource(resource)
    tokens = tuple({"resource_type": rtype, "resource_id": rid, "name": name, "system": system, "code": code}
                   for name, system, code in index.tokens)
    return Prepared(resource, content_hash(resource), index, head, tail, rtype, rid, tokens)


def prepare(resources: list[dict[str, Any]]) -> PreparedBatch:
    return PreparedBatch(tuple(prepare_one(r) for r in resources))
