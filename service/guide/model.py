"""Pure view models of the guide's conformance resources: what each page shows, from the package's JSON.

No Flask here: each function takes a resource (and the ``Package`` to resolve canonical URLs into links)
and returns plain dicts and lists that the templates print.
"""

from __future__ import annotations

import re
from typing import Any

from service.ig import Package

Resource = dict[str, Any]
LINKED_TYPES = ("StructureDefinition", "ValueSet", "CodeSystem", "Questionnaire")
LINK_ID = re.compile(r"linkId\s*=\s*'([^']+)'")
EXT = "http://hl7.org/fhir/StructureDefinition/"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"


def link(package: Package, url: str | None) -> dict[str, str | None]:
    """A canonical URL as a label and, when the guide holds it, the path of its page."""
    if not url:
        return {"label": "", "href": None}
    bare = url.split("|", 1)[0]
    for rtype in LINKED_TYPES:
        found = package.by_url(rtype, bare)
        if found is not None:
            return {"label": str(found.get("title") or found.get("name") or found["id"]),
                    "href": f"/guide/{rtype}/{found['id']}"}
    return {"label": url, "href": None}


def summary(resource: Resource) -> dict[str, Any]:
    """The header every page shows: title, canonical URL, version, status, description."""
    return {"id": resource.get("id"), "type": resource.get("resourceType"),
            "title": resource.get("title") or resource.get("name") or resource.get("id"),
            "url": resource.get("url"), "version": resource.get("version"), "status": resource.get("status"),
            "description": resource.get("description")}


def show_value(value: Any) -> str:
    """A fixed or pattern value, short: codings as system|code, quantities as value unit."""
    if isinstance(value, dict):
        if "coding" in value:
            return ", ".join(show_value(c) for c in value["coding"])
        if "code" in value and "system" in value:
            return f"{value['system']}|{value['code']}"
        if "value" in value:
            return f"{value['value']} {value.get('unit') or value.get('code') or ''}".strip()
        return ", ".join(f"{k}: {show_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(show_value(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _types(package: Package, element: Resource) -> list[dict[str, Any]]:
    types = []
    for t in element.get("type", []):
        targets = [link(package, p) for p in t.get("targetProfile", []) + t.get("profile", [])]
        types.append({"code": t.get("code", ""), "targets": targets})
    return types


def _fixed(element: Resource) -> list[dict[str, str]]:
    return [{"kind": "fixed" if key.startswith("fixed") else "pattern", "value": show_value(value)}
            for key, value in element.items() if key.startswith(("fixed", "pattern"))]


def element_row(package: Package, element: Resource, constrained: set[str]) -> dict[str, Any]:
    """One row of a profile's element table."""
    eid = str(element.get("id") or element.get("path", ""))
    binding = element.get("binding")
    return {
        "id": eid, "parts": eid.split("."), "depth": eid.count("."),
        "card": f"{element.get('min', 0)}..{element.get('max', '*')}",
        "must_support": bool(element.get("mustSupport")), "types": _types(package, element),
        "binding": {"strength": binding.get("strength", ""), "value_set": link(package, binding.get("valueSet"))}
        if binding else None,
        "fixed": _fixed(element), "short": element.get("short", ""), "constrained": eid in constrained,
        "constraints": [{"key": c.get("key"), "human": c.get("human")} for c in element.get("constraint", [])
                        if str(c.get("source", "")).startswith(package_base(package))],
    }


def package_base(package: Package) -> str:
    return str(package.manifest.get("canonical") or "http://etmi.example.org/fhir")


def profile_view(package: Package, sd: Resource) -> dict[str, Any]:
    """A StructureDefinition: what it constrains, its own constraints and every snapshot element."""
    differential = sd.get("differential", {}).get("element", [])
    constrained = {str(e.get("id") or e.get("path")) for e in differential}
    snapshot = sd.get("snapshot", {}).get("element", []) or differential
    rows = [element_row(package, e, constrained) for e in snapshot]
    return {"head": summary(sd), "kind": sd.get("kind"), "type": sd.get("type"),
            "base": link(package, sd.get("baseDefinition")),
            "context": [c.get("expression") for c in sd.get("context", [])],
            "key_rows": [r for r in rows if r["constrained"] or r["must_support"]], "rows": rows}
