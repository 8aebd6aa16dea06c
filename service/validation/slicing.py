"""Slice matching by discriminator (value, pattern, exists) and FHIR pattern semantics."""

from __future__ import annotations

from typing import Any

from service.validation.model import Slice


def pattern_matches(pattern: Any, value: Any) -> bool:
    """FHIR pattern semantics: every key and list item of the pattern is found in the value."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and pattern_matches(v, value[k]) for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(pattern_matches(p, v) for v in value) for p in pattern)
    if isinstance(pattern, bool) or isinstance(value, bool):
        return pattern is value
    return bool(pattern == value)


def match_slice(item: dict[str, Any], slices: tuple[Slice, ...]) -> Slice | None:
    """The first slice whose discriminators all match the item (slices that can't be matched are skipped)."""
    for piece in slices:
        if piece.discriminators is None:
            continue
        if all(_disc_matches(item, d.path, d.expected, d.exists) for d in piece.discriminators):
            return piece
    return None


def _values(item: Any, path: tuple[str, ...]) -> list[Any]:
    current = [item]
    for part in path:
        nxt: list[Any] = []
        for value in current:
            if isinstance(value, dict) and part in value:
                found = value[part]
                nxt.extend(found if isinstance(found, list) else [found])
        current = nxt
    return current


def _disc_matches(item: Any, path: tuple[str, ...], expected: tuple[Any, ...] | None, exists: bool) -> bool:
    values = _values(item, path)
    if expected is None:
        return bool(values) == exists
    return any(pattern_matches(expected[0], v) for v in values)
