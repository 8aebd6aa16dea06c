"""Adding items to an episode (sessions, answer sets, goals, scores): changes of the stored payload that
``EpisodeWriter.amend`` writes, so each runs the same mapping, validation, store and outbox path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.episodes.writes import Change
from service.errors import ApiError


def add(list_key: str, id_key: str, item: dict[str, Any]) -> Change:
    """Append ``item``; the same item again is a no-op (idempotent), another one with its id is 409."""
    def change(payload: dict[str, Any]) -> dict[str, Any]:
        existing = payload.setdefault(list_key, [])
        for old in existing:
            if old.get(id_key) == item[id_key]:
                if old != item:
                    raise ApiError(409, f"{list_key} {item[id_key]!r} exists with other content",
                                   expression=id_key)
                return payload
        existing.append(item)
        return payload
    return change


def replace(list_key: str, id_key: str, item_id: str, update: Callable[[dict[str, Any]], dict[str, Any]]) -> Change:
    """Replace the item with id ``item_id`` by ``update(old)``; 404 when the episode has none."""
    def change(payload: dict[str, Any]) -> dict[str, Any]:
        for i, old in enumerate(payload.get(list_key, [])):
            if str(old.get(id_key)) == item_id:
                payload[list_key][i] = update(old)
                return payload
        raise ApiError(404, f"{list_key} {item_id!r} is not part of this episode")
    return change


def all_of(changes: list[Change]) -> Change:
    """Several changes as one write: all are stored, or none."""
    def change(payload: dict[str, Any]) -> dict[str, Any]:
        for one in changes:
            payload = one(payload)
        return payload
    return change
