"""CodeSystems and ValueSets as tables of codes (a ValueSet that includes a whole local CodeSystem lists its codes)."""

from __future__ import annotations

from typing import Any

from service.guide.model import Resource, link, summary
from service.ig import Package


def concepts(concept_list: list[Resource], depth: int = 0) -> list[dict[str, Any]]:
    """Concepts in order, children after their parent one level deeper."""
    rows: list[dict[str, Any]] = []
    for concept in concept_list:
        rows.append({"code": concept.get("code"), "display": concept.get("display", ""),
                     "definition": concept.get("definition", ""), "depth": depth,
                     "designations": [d.get("value") for d in concept.get("designation", []) if d.get("value")]})
        rows.extend(concepts(concept.get("concept", []), depth + 1))
    return rows


def codesystem_view(package: Package, cs: Resource) -> dict[str, Any]:
    return {"head": summary(cs), "content": cs.get("content"), "concepts": concepts(cs.get("concept", [])),
            "value_sets": value_sets_from(package, str(cs.get("url", "")))}


def value_sets_from(package: Package, system: str) -> list[dict[str, Any]]:
    """The guide's ValueSets that include codes of ``system``."""
    return [link(package, vs.get("url")) for vs in package.resources("ValueSet")
            if any(inc.get("system") == system for inc in vs.get("compose", {}).get("include", []))]


def _part(package: Package, part: Resource) -> dict[str, Any]:
    system = str(part.get("system", ""))
    local = package.by_url("CodeSystem", system)
    if part.get("concept"):
        listed = [{"code": c.get("code"), "display": c.get("display", "")} for c in part["concept"]]
        whole = False
    else:
        listed = [{"code": r["code"], "display": r["display"]} for r in concepts((local or {}).get("concept", []))]
        whole = True
    return {"system": link(package, system), "whole": whole, "codes": listed,
            "filters": [f"{f.get('property')} {f.get('op')} {f.get('value')}" for f in part.get("filter", [])],
            "value_sets": [link(package, v) for v in part.get("valueSet", [])]}


def valueset_view(package: Package, vs: Resource) -> dict[str, Any]:
    compose = vs.get("compose", {})
    return {"head": summary(vs), "include": [_part(package, p) for p in compose.get("include", [])],
            "exclude": [_part(package, p) for p in compose.get("exclude", [])],
            "used_by": used_by(package, str(vs.get("url", "")))}


def used_by(package: Package, url: str) -> list[dict[str, Any]]:
    """The profiles with an element bound to the ValueSet ``url``, and the elements."""
    found = []
    for sd in package.resources("StructureDefinition"):
        elements = [str(e.get("id")) for e in sd.get("snapshot", {}).get("element", [])
                    if str(e.get("binding", {}).get("valueSet", "")).split("|")[0] == url]
        if elements:
            found.append({"profile": link(package, sd.get("url")), "elements": elements})
    return found
