"""The request limits' quick paths decide exactly as the full checks (Session 20, bench/profiles/ingest.md).

- ``check_json`` clears a body with a path-free first pass; any doubt walks it again with paths. Every value
  the path-naming walk refuses must still be refused with the same message and path.
- ``clean_text`` tests surrogates through the UTF-8 encoder: the same verdict as the per-character rule.
- ``date_range`` remembers the ranges of the last dates: the same answers and the same errors, and a date the
  index meets again is not parsed again (an episode's 35 resources carry about 8 distinct dates).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service import limits
from service.limits import LimitError

TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
SCALARS = st.one_of(
    st.none(), st.booleans(), TEXT, st.sampled_from(["", "\x00", "a\ud800", "\udfff", "é\udc80x", "ok", "\u2028"]),
    st.integers(min_value=-(2**64), max_value=2**64), st.sampled_from([limits.INT64_MAX, limits.INT64_MIN,
                                                                       limits.INT64_MAX + 1, limits.INT64_MIN - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(TEXT, inner, max_size=4)), max_leaves=30)


def _verdict(check: Any, value: Any) -> tuple[str, str, int, str] | None:
    try:
        check(value)
    except LimitError as err:
        return err.message, err.path, err.status, err.code
    return None


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


EDGES: list[Any] = [
    _nested(limits.JSON_DEPTH_MAX, 1), _nested(limits.JSON_DEPTH_MAX + 1, 1), _nested(limits.JSON_DEPTH_MAX, {}),
    _nested(limits.JSON_DEPTH_MAX, []), _nested(limits.JSON_DEPTH_MAX + 1, []), _nested(limits.JSON_DEPTH_MAX, "x"),
    ["x" * limits.JSON_STRING_MAX], ["x" * (limits.JSON_STRING_MAX + 1)], list(range(limits.JSON_LIST_MAX)),
    list(range(limits.JSON_LIST_MAX + 1)), {"k" * 1000: 1}, {"k" * 1001: 1}, {"a\x00": 1}, {"a\ud800": 1},
    {1: "not a JSON key"}, [math.inf], [-math.inf], [math.nan], [limits.INT64_MAX + 1], [limits._BigInt("1" * 30)],
    {"a": [1, {"b": "\ud800"}]}, [True, False, None, 1.5, -0.0, "é", "\U0001f600"], (1, 2), {"a": b"bytes"},
]


@pytest.mark.parametrize("value", EDGES, ids=range(len(EDGES)))
def test_check_json_refuses_as_the_walk_with_paths(value: Any) -> None:
    assert _verdict(limits.check_json, value) == _verdict(lambda v: limits._walk(v, "", 0), value)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_check_json_refuses_as_the_walk_with_paths_for_any_json(value: Any) -> None:
    assert _verdict(limits.check_json, value) == _verdict(lambda v: limits._walk(v, "", 0), value)


def _per_character(value: str, path: str, most: int) -> str:
    """The rule ``clean_text`` had before Session 20: a surrogate is any code point U+D800-U+DFFF."""
    if len(value) > most:
        raise LimitError(f"{path or 'value'} is longer than {most} characters", path, code="too-long")
    if "\x00" in value:
        raise LimitError(f"{path or 'value'} contains a NUL character", path)
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise LimitError(f"{path or 'value'} contains a lone surrogate (not Unicode text)", path)
    return value


@settings(max_examples=400, deadline=None)
@given(st.one_of(TEXT, st.sampled_from(["\ud83d\ude00", "\ud7ff\ue000", "a\udbff", "\U0010ffff", "x" * 9])))
def test_clean_text_refuses_as_the_per_character_rule(value: str) -> None:
    assert _verdict(lambda v: limits.clean_text(v, "p", 8), value) == _verdict(lambda v: _per_character(v, "p", 8),
                                                                               value)


DATES = ["2026", "2026-02", "2026-02-28", "2024-02", "2026-03-23T09:00:00+02:00", "2026-03-23T09:00:00Z",
         "2026-03-23T09:00", "2026-03-23T23:59:60-14:00", "2026-03-23T09:00:00.123456789+14:00", "0001-01-01T00:00Z",
         "9999-12-31T23:59:59-01:00", " 2026-01-01 ", "2026-02-30", "2026-13", "2026-03-23T09:00:61Z",
         "2026-03-23T09:00:00+15:00", "2026-03-23T09:00:00+02:60", "soon", ""]


@pytest.mark.parametrize("value", DATES)
def test_date_range_remembered_answers_as_the_parser(value: str) -> None:
    for _ in range(2):  # the second call is answered from the cache (a refusal is raised again)
        assert _verdict(lambda v: limits.date_range(v, "when"), value) == _verdict(
            lambda v: limits._date_range(v, "when"), value)
        if _verdict(limits._date_range, value) is None:
            assert limits.date_range(value, "when") == limits._date_range(value, "when")


def test_an_episode_date_met_again_is_not_parsed_again() -> None:
    """Not timed: the index parses each distinct date once (the old code parsed all 6 here)."""
    from service.store.index import index_resource

    when = "2031-05-06T07:08:09+02:00"
    resources = [{"resourceType": "Observation", "effectiveDateTime": when, "status": "final"} for _ in range(5)]
    resources += [{"resourceType": "Procedure", "performedDateTime": when, "status": "completed"}]
    limits._remembered.cache_clear()
    spans = {(found.date_low, found.date_high) for found in map(index_resource, resources)}
    assert spans == {limits._date_range(when)}
    info = limits._remembered.cache_info()
    assert (info.misses, info.hits) == (1, 5)
