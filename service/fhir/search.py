"""Search-parameter parsing: query string -> ``SearchQuery`` (400 for anything not understood)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from werkzeug.datastructures import MultiDict

from service import limits
from service.errors import ApiError
from service.fhir.params import COMMON, INCLUDES, RESULT, SORTS, STORED
from service.store.resources import SearchQuery, TokenValue

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
MAX_COUNT = 500


@dataclass
class Parsed:
    query: SearchQuery
    includes: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    summary_count: bool = False


def _bad(message: str, name: str) -> ApiError:
    return ApiError(400, message, expression=name)


def _token(name: str, value: str) -> TokenValue:
    """``[system|]code``: each part no longer than its column (``search_token.system``/``code``)."""
    system, bar, code = value.partition("|")
    for part in (system, code) if bar else (value,):
        limits.clean_text(part, name, limits.IDENTIFIER_MAX)
    return (system or None, code or None) if bar else (None, value)


def _date(name: str, value: str) -> tuple[str, str, str]:
    """``[prefix]date``: the UTC range of the date (``service.limits.date_range``, 400 naming ``name``)."""
    prefix = value[:2] if value[:2] in PREFIXES else "eq"
    low, high = limits.date_range(value[2:] if value[:2] in PREFIXES else value, name)
    return prefix, low, high


def _reference(name: str, value: str) -> str:
    found = value.rsplit("/", 1)[-1] if value.startswith(("Patient/", "http")) else value
    return limits.identifier(found, name, limits.FHIR_ID_MAX)


def _int(name: str, value: str, low: int, high: int) -> int:
    return limits.integer(value, name, low, high)


def parse(rtype: str, args: MultiDict[str, str], page_size: int, lenient: bool) -> Parsed:
    q = SearchQuery(resource_type=rtype, count=min(page_size, MAX_COUNT))
    parsed = Parsed(q)
    kinds = STORED[rtype]
    for raw_name, value in args.items(multi=True):
        name, _, modifier = raw_name.partition(":")
        if modifier:
            if lenient:
                parsed.ignored.append(raw_name)
                continue
            raise _bad(f"modifier :{modifier} is not supported", raw_name)
        if not _apply(parsed, rtype, kinds, name, value, page_size):
            if not lenient:
                raise _bad(f"unknown search parameter {name!r} for {rtype}", name)
            parsed.ignored.append(name)
    return parsed


def _apply(parsed: Parsed, rtype: str, kinds: Mapping[str, str], name: str, value: str, page_size: int) -> bool:
    q = parsed.query
    values = [v for v in value.split(",") if v]
    if name in RESULT:
        return _result(parsed, rtype, name, value)
    if name == "_id":
        q.ids += [limits.identifier(v, name, limits.FHIR_ID_MAX) for v in values]
    elif name == "_lastUpdated":
        prefix, low, high = _date(name, value)
        q.last_updated.append((prefix, datetime.fromisoformat(low), datetime.fromisoformat(high)))
    elif name not in kinds:
        return False
    elif kinds[name] == "reference":
        q.patients += [_reference(name, v) for v in values]
    elif kinds[name] == "token":
        q.tokens.append((name, [_token(name, v) for v in values]))
    elif kinds[name] == "status":
        q.statuses += [limits.clean_text(v, name, 40) for v in values]
    elif kinds[name] == "date":
        q.dates.append(_date(name, value))
    return name in kinds or name in COMMON


def _result(parsed: Parsed, rtype: str, name: str, value: str) -> bool:
    q = parsed.query
    if name == "_count":
        q.count = _int(name, value, 0, MAX_COUNT)
    elif name == "_offset":
        q.offset = _int(name, value, 0, 10_000_000)
    elif name == "_include":
        parts = value.split(":")
        if len(parts) < 2 or parts[0] != rtype or (rtype, parts[1]) not in INCLUDES:
            raise _bad(f"_include={value} is not supported", name)
        parsed.includes.append((parts[0], parts[1]))
    elif name == "_sort":
        if value not in SORTS or ("date" in value and "date" not in STORED[rtype]):
            raise _bad(f"_sort={value} is not supported (use one of {', '.join(SORTS)})", name)
        q.sort_desc, q.sort_by_date = value.startswith("-"), "date" in value
    elif name == "_summary":
        if value != "count":
            raise _bad("only _summary=count is supported", name)
        parsed.summary_count = True
    return True
