"""Bundle rules of the HL7 validator beyond the R4 invariants."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from service.validation.outcome import Issues
from service.validation.primitives import ABSOLUTE
from service.validation.shapes import as_dict, as_list


def search_types(bundle: dict[str, Any], is_type: Callable[[str], bool]) -> set[str] | None:
    """Resource types a searchset's self link searched for, or None if it can't be told."""
    for link in as_list(bundle.get("link")):
        if isinstance(link, dict) and link.get("relation") == "self" and isinstance(link.get("url"), str):
            parts = urlsplit(link["url"])
            segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
            if is_type(segment):
                return {segment}
            listed = {t for v in parse_qs(parts.query).get("_type", []) for t in v.split(",") if is_type(t)}
            return listed or None
    return None


def check_searchset(bundle: dict[str, Any], path: str, issues: Issues, is_type: Callable[[str], bool]) -> None:
    """Entries with search.mode 'match' must be of the type the self link searched for."""
    if bundle.get("type") != "searchset":
        return
    expected = search_types(bundle, is_type)
    if not expected:
        return
    for i, entry in enumerate(as_list(bundle.get("entry"))):
        if not isinstance(entry, dict) or as_dict(entry.get("search")).get("mode") != "match":
            continue
        resource = entry.get("resource")
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        if isinstance(rtype, str) and rtype not in expected:
            issues.error(
                "invalid",
                f"{path}.entry[{i}].resource",
                f"This is not a matching resource type for the specified search ({rtype} expecting {sorted(expected)})",
            )


_RESTFUL = re.compile(r"/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


def check_full_urls(bundle: dict[str, Any], path: str, issues: Issues, is_type: Callable[[str], bool]) -> None:
    """fullUrl is absolute; a RESTful fullUrl ends with the entry resource's type and id."""
    for i, entry in enumerate(as_list(bundle.get("entry"))):
        url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if not isinstance(url, str):
            continue
        if ABSOLUTE.match(url) is None:
            issues.error("value", f"{path}.entry[{i}].fullUrl", f"The fullUrl must be an absolute URL (not {url!r})")
            continue
        resource = as_dict(entry.get("resource"))
        match = _RESTFUL.search(url)
        if match is None or not is_type(match.group(1)) or "id" not in resource:
            continue
        if (match.group(1), match.group(2)) != (resource.get("resourceType"), resource.get("id")):
            issues.error(
                "value",
                f"{path}.entry[{i}].fullUrl",
                f"The fullUrl {url!r} looks like a RESTful server URL, so it must end with "
                f"/{resource.get('resourceType')}/{resource.get('id')}",
            )


#: Link relations a Bundle has at most once (its own URL and the paging links), as the HL7 validator says.
SINGLE_LINKS = frozenset({"self", "first", "previous", "prev", "next", "last"})


def check_links(bundle: dict[str, Any], path: str, issues: Issues) -> None:
    """Each of the self and paging link relations occurs at most once."""
    seen: set[str] = set()
    for i, link in enumerate(as_list(bundle.get("link"))):
        relation = link.get("relation") if isinstance(link, dict) else None
        if isinstance(relation, str) and relation in SINGLE_LINKS:
            if relation in seen:
                issues.error("structure", f"{path}.link[{i}]", f"The link relation '{relation}' can only occur once")
            seen.add(relation)
