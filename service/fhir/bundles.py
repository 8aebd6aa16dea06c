"""Bundles of the façade: searchset (with paging links and ``_include``), history, conformance search."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict

from service.errors import ApiError
from service.fhir.params import CONFORMANCE, INCLUDES
from service.fhir.search import Parsed
from service.ig import Package
from service.store.reader import StoredResource


def _entry(base: str, resource: dict[str, Any], mode: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}", "resource": resource}
    if mode:
        entry["search"] = {"mode": mode}
    return entry


def _link(base: str, path: str, args: MultiDict[str, str], offset: int, count: int) -> str:
    pairs = [(k, v) for k, v in args.items(multi=True) if k not in ("_offset", "_count")]
    pairs += [("_count", str(count)), ("_offset", str(offset))]
    root = base.rsplit("/fhir", 1)[0]
    return f"{root}{path}?{urlencode(pairs)}"


def _links(parsed: Parsed, total: int, base: str, path: str, args: MultiDict[str, str]) -> list[dict[str, str]]:
    q = parsed.query
    count = q.count or 1
    links = [{"relation": "self", "url": _link(base, path, args, q.offset, q.count)},
             {"relation": "first", "url": _link(base, path, args, 0, count)}]
    if q.offset > 0:
        links.append({"relation": "previous", "url": _link(base, path, args, max(q.offset - count, 0), count)})
    if q.count and q.offset + q.count < total:
        links.append({"relation": "next", "url": _link(base, path, args, q.offset + q.count, count)})
    last = max(((total - 1) // count) * count, 0)
    links.append({"relation": "last", "url": _link(base, path, args, last, count)})
    return links


def searchset(parsed: Parsed, total: int, rows: list[StoredResource], included: list[dict[str, Any]],
              base: str, path: str, args: MultiDict[str, str]) -> dict[str, Any]:
    entries = [] if parsed.summary_count else [_entry(base, r.resource, "match") for r in rows]
    entries += [_entry(base, r, "include") for r in included]
    if parsed.ignored:
        entries.append({"resource": {"resourceType": "OperationOutcome", "issue": [{
            "severity": "warning", "code": "not-supported",
            "diagnostics": f"ignored search parameters: {', '.join(parsed.ignored)}"}]},
            "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total,
                              "link": _links(parsed, total, base, path, args)}
    if entries:
        bundle["entry"] = entries
    return bundle


def wanted(includes: list[tuple[str, str]]) -> Callable[[list[StoredResource]], dict[str, list[str]]]:
    """What ``_include`` asks for among the matches: the referenced ids by type, once each (the façade
    then keeps those the caller may read: its scopes on *that* type, and its patient compartment)."""
    def referenced(rows: list[StoredResource]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for rtype, param in includes:
            element = INCLUDES[(rtype, param)]
            for row in rows:
                value = row.resource.get(element)
                for ref in value if isinstance(value, list) else [value] if value else []:
                    target, _, rid = str(ref.get("reference", "")).partition("/")
                    if rid and rid not in found.setdefault(target, []):
                        found[target].append(rid)
        return found
    return referenced


def history(rows: list[StoredResource], base: str) -> dict[str, Any]:
    entries = []
    for row in rows:
        entry = _entry(base, row.resource)
        entry["request"] = {"method": "POST" if row.version_id == 1 else "PUT",
                            "url": f"{row.resource_type}/{row.resource_id}"}
        entries.append(entry)
    return {"resourceType": "Bundle", "type": "history", "total": len(rows), "entry": entries}


def conformance_search(package: Package, rtype: str, args: MultiDict[str, str], base: str,
                       lenient: bool) -> dict[str, Any]:
    """Search the guide's conformance resources by ``_id``, ``url`` (``url|version``), ``version``,
    ``name`` and ``status``."""
    found = package.resources(rtype)
    for name, value in args.items(multi=True):
        if name in ("_format", "_count", "_pretty", "_summary", "_total"):
            continue
        if name != "_id" and name not in CONFORMANCE:
            if lenient:
                continue
            raise ApiError(400, f"unknown search parameter {name!r} for {rtype}", expression=name)
        found = [r for r in found if _matches(r, name, value)]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(found),
            "link": [{"relation": "self", "url": f"{base}/{rtype}?{urlencode(list(args.items(multi=True)))}"}],
            "entry": [_entry(base, r, "match") for r in found]}


def _matches(resource: dict[str, Any], name: str, value: str) -> bool:
    alternatives = value.split(",")
    if name == "_id":
        return resource.get("id") in alternatives
    if name == "url":
        return any(_url_matches(resource, v) for v in alternatives)
    if name == "name":
        return any(str(resource.get("name", "")).lower().startswith(v.lower()) for v in alternatives)
    return resource.get(name) in alternatives


def _url_matches(resource: dict[str, Any], value: str) -> bool:
    url, _, version = value.partition("|")
    return resource.get("url") == url and (not version or resource.get("version") == version)
