"""Loading the committed ETMI implementation guide package (profiles/package/) for contract tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "profiles" / "package"
EXAMPLES = PACKAGE / "example"
NOT_RESOURCES = {"package.json", ".index.json"}

Resource = dict[str, Any]


def resource_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if p.name not in NOT_RESOURCES)


@cache
def load(path: Path) -> Resource:
    data: Resource = json.loads(path.read_text(encoding="utf-8"))
    return data


def artifacts() -> list[Resource]:
    return [load(p) for p in resource_files(PACKAGE)]


def examples() -> list[Resource]:
    return [load(p) for p in resource_files(EXAMPLES)]


def by_url() -> dict[str, Resource]:
    return {r["url"]: r for r in artifacts() if "url" in r}


def profile(url: str) -> Resource:
    sd = by_url()[url]
    assert sd["resourceType"] == "StructureDefinition"
    return sd


def walk_items(items: list[Resource]) -> Iterator[Resource]:
    for item in items:
        yield item
        yield from walk_items(item.get("item", []))


def extensions(element: Resource, url: str) -> list[Resource]:
    return [e for e in element.get("extension", []) if e.get("url") == url]


def snapshot_element(sd: Resource, element_id: str) -> Resource:
    for element in sd["snapshot"]["element"]:
        if element["id"] == element_id:
            found: Resource = element
            return found
    raise KeyError(f"{sd['id']}: no snapshot element {element_id}")


def codesystem_codes(url: str) -> set[str]:
    cs = by_url()[url]
    return {c["code"] for c in cs.get("concept", [])}
