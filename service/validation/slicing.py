"""Slice matching by discriminator (value, pattern, exists) and FHIR pattern semantics."""

from __future__ import annotations

from typing import Any

import orjson

from service.validation.compiler import Elem, Slice
from service.validation.memo import MEMO_LIMIT, MEMO_RAW_BYTES, keep_recent
from service.validation.outcome import Issues
from service.validation.protocols import Walk


def pattern_matches(pattern: Any, value: Any) -> bool:
    """FHIR pattern semantics: every key and list item of the pattern is found in the value."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        for key, wanted in pattern.items():  # noqa: SIM110 (a loop: no generator on the hot path)
            if key not in value or not pattern_matches(wanted, value[key]):
                return False
        return True
    if isinstance(pattern, list):
        if not isinstance(value, list):
            return False
        for wanted in pattern:
            for candidate in value:
                if pattern_matches(wanted, candidate):
                    break
            else:
                return False
        return True
    if isinstance(pattern, bool) or isinstance(value, bool):
        return pattern is value
    return bool(pattern == value)


def match_slice(item: dict[str, Any], slices: tuple[Slice, ...]) -> Slice | None:
    """The first slice whose discriminators all match the item (slices that can't be matched are skipped)."""
    for piece in slices:
        if piece.discriminators is None:
            continue
        for d in piece.discriminators:
            if not _disc_matches(item, d.path, d.expected, d.exists):
                break
        else:
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
    values = _values(item, path) if path else [item]
    if expected is None:
        return bool(values) == exists
    for value in values:  # noqa: SIM110 (a loop: no generator on the hot path)
        if pattern_matches(expected[0], value):
            return True
    return False


def _slice_of(walker: Walk, item: dict[str, Any], elem: Elem) -> Slice | None:
    """``match_slice`` remembered in the engine's memo by (element, "#slice", the item's JSON up to
    ``MEMO_RAW_BYTES``): a pure function of the item's content, stamped and dropped like the memo's other entries."""
    try:
        dumped = orjson.dumps(item)
    except TypeError:
        return match_slice(item, elem.slices)
    if len(dumped) > MEMO_RAW_BYTES:
        return match_slice(item, elem.slices)
    memo = walker.engine.memo
    entry = memo.get((id(elem), "#slice", dumped))
    if entry is None:
        piece = match_slice(item, elem.slices)
        if len(memo) >= MEMO_LIMIT:
            keep_recent(memo)
        index = -1 if piece is None else elem.slices.index(piece)
        memo[(id(elem), "#slice", bytes(memoryview(dumped)))] = entry = [index, walker.stamp]
    entry[1] = walker.stamp
    return None if entry[0] < 0 else elem.slices[entry[0]]


def walk_sliced(walker: Walk, values: list[Any], elem: Elem, code: str, path: str) -> None:
    """Walks the items of a sliced array, each with its slice's element, and counts the slices."""
    counts: dict[str, int] = {}
    issues = walker.issues
    for i, item in enumerate(values):
        piece = _slice_of(walker, item, elem) if isinstance(item, dict) else None
        if piece is None:
            if elem.closed:
                issues.error("structure", f"{path}[{i}]", f"This item does not match any slice of {elem.name} (closed)")
            walker.item(item, elem, code, f"{path}[{i}]")
            continue
        counts[piece.name] = counts.get(piece.name, 0) + 1
        walker.item(item, piece.elem, code, f"{path}[{i}]")
    for piece in elem.slices:
        if piece.discriminators is None:
            continue
        found = counts.get(piece.name, 0)
        name = f"Slice {elem.name}:{piece.name}"
        if found < piece.elem.min:
            issues.error("required", path, f"{name}: minimum required = {piece.elem.min}, found {found}")
        elif 0 <= piece.elem.max < found:
            issues.error("structure", path, f"{name}: max allowed = {piece.elem.max}, found {found}")


def check_cardinality(issues: Issues, elem: Elem, count: int, path: str) -> None:
    """An element's count against its min and max, and (when absent) its required slices."""
    if count < elem.min:
        issues.error(
            "required", f"{path}.{elem.name}", f"{elem.name}: minimum required = {elem.min}, but only found {count}"
        )
    elif 0 <= elem.max < count:
        issues.error("structure", f"{path}.{elem.name}", f"{elem.name}: max allowed = {elem.max}, but found {count}")
    if count == 0:
        for piece in elem.slices:
            if piece.elem.min > 0 and piece.discriminators is not None:
                issues.error(
                    "required",
                    f"{path}.{elem.name}",
                    f"Slice {elem.name}:{piece.name}: minimum required = {piece.elem.min}, found 0",
                )
