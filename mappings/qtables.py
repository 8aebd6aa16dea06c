"""Per-Questionnaire tables (items in order, by linkId, and what other modules derive from them), built once.

The mappings get Questionnaires as data, and the service hands them the same objects for every episode (the
profiles package it loaded), while each response used to walk its Questionnaire a dozen times (enablement,
scoring, extraction). ``tables(questionnaire)`` walks it once and keeps the result by the object's identity,
for the last ``CACHE_SIZE`` Questionnaires seen; the object is kept with its tables, so its identity cannot be
reused by another object while they are kept. Rule: a Questionnaire given to a mapping is not changed in
place afterwards (a changed copy is another object and gets its own tables), and what the tables hold is read,
never changed. Deterministic, no I/O: a cache of values computed from the arguments only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
CACHE_SIZE = 32


@dataclass(frozen=True)
class Node:
    """One item of a Questionnaire, groups included."""

    link: str
    parent: int  # index of the parent item in ``Tables.nodes``; -1 at the top level
    item: dict[str, Any]


@dataclass(frozen=True)
class Tables:
    #: Every item, depth first in Questionnaire order (a parent before its children).
    nodes: tuple[Node, ...]
    #: Every item by linkId (``mappings.scoring.flatten_items``: a repeated linkId keeps the last item).
    items: dict[str, dict[str, Any]]
    #: What other modules derive from the Questionnaire (``derived``), by their key.
    derived: dict[str, Any] = field(default_factory=dict)


_CACHE: dict[int, tuple[dict[str, Any], Tables]] = {}


def _build(questionnaire: dict[str, Any]) -> Tables:
    nodes: list[Node] = []

    def walk(items: list[dict[str, Any]], parent: int) -> None:
        for item in items:
            nodes.append(Node(item["linkId"], parent, item))
            walk(item.get("item", []), len(nodes) - 1)

    walk(questionnaire.get("item", []), -1)
    return Tables(tuple(nodes), {n.link: n.item for n in nodes})


def tables(questionnaire: dict[str, Any]) -> Tables:
    """The tables of ``questionnaire``, built on its first use."""
    entry = _CACHE.get(id(questionnaire))
    if entry is not None and entry[0] is questionnaire:
        return entry[1]
    built = _build(questionnaire)
    if len(_CACHE) >= CACHE_SIZE:
        _CACHE.clear()
    _CACHE[id(questionnaire)] = (questionnaire, built)
    return built


def derived(questionnaire: dict[str, Any], key: str, build: Callable[[dict[str, Any]], T]) -> T:
    """``build(questionnaire)``, computed once per Questionnaire and kept under ``key`` with its tables."""
    kept = tables(questionnaire).derived
    if key not in kept:
        kept[key] = build(questionnaire)
    value: T = kept[key]
    return value
