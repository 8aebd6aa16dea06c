"""The validator's fast paths answer as the slow paths they stand for, and its caches stay small in bytes.

A native invariant that covers the usual shapes (per-1, qrs-1) is compared with fhirpathpy on inputs of
every shape; the narrative scan with the XML parser on generated markup; the caches are measured with
tracemalloc after thousands of distinct resources (not timed).
"""

from __future__ import annotations

import gc
import itertools
import random
import tracemalloc
from typing import Any

import pytest

from service.validation import Engine, has_errors
from service.validation.budget import CacheBudget
from service.validation.invariants import Constraint
from service.validation.narrative import _PLAIN_ASCII, ALLOWED_HTML, _check_div, _plain_div, _scan_div
from service.validation.natives import NATIVES
from service.validation.walker import MEMO_RAW_BYTES
from tests.validation import fixtures

WHEN: list[Any] = [
    "2020", "2020-01", "2020-01-01", "2020-01-02", "2020-01-01T10:00:00Z", "2020-01-01T10:00:00+02:00",
    "2020-01-01T08:00:00Z", "2020-01-01T08:00:00.5Z", "2020-01-01T10:00:00", "2021-02-30", "x", "", " ",
    5, 2020.5, True, None, ["2020"], [], {"id": "a"},
]  # fmt: skip
PARTS: list[Any] = [None, [], [None], [{}], [{"valueString": "a"}, None], {}, "x", 0, {"id": "a"}]


def _native_and_fhirpath(key: str) -> tuple[Constraint, Constraint]:
    expression = NATIVES[key][0]
    native = Constraint(key, "error", key, expression)
    plain = Constraint(key + "-fhirpath", "error", key, expression)  # no native under this key
    assert native.native is not None and plain.native is None
    return native, plain


def _agree(key: str, base: str, samples: list[dict[str, Any]]) -> int:
    """Checks every sample; returns how many the native decided itself."""
    native, plain = _native_and_fhirpath(key)
    decided = 0
    for sample in samples:
        env = {"resource": sample, "rootResource": sample}
        assert native.holds(sample, base, env) is plain.holds(sample, base, env), (key, sample)
        decided += NATIVES[key][1](sample, env) is not None
    return decided


def test_per_1_native_agrees_with_fhirpathpy() -> None:
    samples = [
        {k: v for k, v in (("start", start), ("end", end)) if v is not None or k == "start"}
        for start, end in itertools.product(WHEN, WHEN)
    ]
    samples += [{"_start": {"id": "a"}, "end": "2020"}, {"start": "2021", "_start": {"id": "a"}, "end": "2020"},
                {"start": "2021", "end": "2020", "_end": {"extension": []}}, {}]  # fmt: skip
    decided = _agree("per-1", "Period", samples)
    assert decided > len(samples) // 2, "the native should decide the usual shapes itself"


def test_qrs_1_native_agrees_with_fhirpathpy() -> None:
    extras: list[Any] = [None, [None, {"id": "x"}], {"id": "x"}]
    item_extras: list[Any] = [None, [{}]]
    samples = []
    for answer, item, extra_answer, extra_item in itertools.product(PARTS, PARTS, extras, item_extras):
        named = (("answer", answer), ("item", item), ("_answer", extra_answer), ("_item", extra_item))
        samples.append({"linkId": "1", **{k: v for k, v in named if v is not None}})
    assert _agree("qrs-1", "QuestionnaireResponse.item", samples) == len(samples)


def _random_div(rng: random.Random) -> str:
    tags = [*sorted(ALLOWED_HTML)[:12], "img", "script", "P", "x1"]
    texts = ["a", " ", "\n", "Pain: 7/10", "&amp;", "&nbsp;", "<", ">", "]]>", "\x01", "\xa0", "é", "\ufffe"]
    out, stack = [], []
    for _ in range(rng.randint(0, 12)):
        roll = rng.random()
        if roll < 0.35:
            name = rng.choice(tags)
            out.append(f"<{name}>" if rng.random() < 0.9 else f'<{name} class="c">')
            stack.append(name)
        elif roll < 0.6 and stack:
            name = stack.pop() if rng.random() < 0.9 else rng.choice(tags)
            out.append(f"</{name}>")
        elif roll < 0.65:
            out.append(f"<{rng.choice(tags)}/>")
        else:
            out.append(rng.choice(texts))
    out.extend(f"</{name}>" for name in reversed(stack) if rng.random() < 0.95)
    opening = '<div xmlns="http://www.w3.org/1999/xhtml">' if rng.random() < 0.9 else "<div>"
    return opening + "".join(out) + ("</div>" if rng.random() < 0.95 else "")


def test_the_narrative_scan_agrees_with_the_xml_parser() -> None:
    rng = random.Random(16)
    divs = [_random_div(rng) for _ in range(4000)]
    divs += [
        '<div xmlns="http://www.w3.org/1999/xhtml"><p><b>Patient</b></p><ul><li>Identifier: P-1</li></ul></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml">\n  <p>a</p>\n</div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>a</p></div><p>b</p>',
        '<div xmlns="http://www.w3.org/1999/xhtml"></div></div>',
    ]
    scanned = 0
    for div in divs:
        fast = _plain_div(div)
        if fast is not None:
            scanned += 1
            assert fast == _check_div(div), div
    assert scanned > 300, "the scan should decide plain markup itself"
    assert _plain_div(divs[-5]) == (True, True)


def _ascii_div(rng: random.Random) -> str:
    """Markup of every allowed element and near misses, nested up to 8 deep, ASCII text with controls."""
    tags = [*sorted(ALLOWED_HTML), "h", "abb", "tablex", "Br", "img"]
    texts = ["a", " ", "\t", "\n", "\r\n", "Value: 7 {score}", "x & y", "<", ">", "\x0b", "\x1f", "\x7f", "\x00"]
    out: list[str] = []
    stack: list[str] = []
    for _ in range(rng.randint(0, 40)):
        roll = rng.random()
        if roll < 0.4 and len(stack) < 8:
            name = rng.choice(tags)
            out.append(f"<{name}>" if rng.random() < 0.95 else f"<{name} >")
            stack.append(name)
        elif roll < 0.7 and stack:
            name = stack.pop() if rng.random() < 0.95 else rng.choice(tags)
            out.append(f"</{name}>")
        else:
            out.append(rng.choice(texts) if rng.random() < 0.1 else rng.choice(texts[:6]))
    out.extend(f"</{name}>" for name in reversed(stack) if rng.random() < 0.97)
    return '<div xmlns="http://www.w3.org/1999/xhtml">' + "".join(out) + "</div>"


def test_the_ascii_grammar_agrees_with_the_tag_scan() -> None:
    """_plain_div reads ASCII markup up to 5 deep with one regular expression, the rest by splitting at tags."""
    rng = random.Random(20)
    divs = [_ascii_div(rng) for _ in range(6000)]
    opening = '<div xmlns="http://www.w3.org/1999/xhtml">'
    divs += [opening + "<p>" * n + "x" + "</p>" * n + "</div>" for n in range(12)]
    divs += [opening + "<b>" * 3000 + "</div>", opening + "<p><b>x</p></b>" * 500 + "</div>"]
    by_grammar = 0
    for div in divs:
        assert _plain_div(div) == _scan_div(div), div
        by_grammar += _PLAIN_ASCII.fullmatch(div, len(opening), len(div) - 6) is not None
    assert by_grammar > 1000, by_grammar


def test_the_mapped_narratives_are_read_by_the_grammar() -> None:
    from mappings.bundle import episode_resources
    from mappings.payload import episode_from_json
    from service.ig import load_package
    from service.synthetic import synthetic_episode

    questionnaires = load_package().questionnaires()
    for i in range(6):
        for resource in episode_resources(episode_from_json(synthetic_episode(i)), questionnaires):
            div = resource["text"]["div"]
            start = len('<div xmlns="http://www.w3.org/1999/xhtml">')
            assert _PLAIN_ASCII.fullmatch(div, start, len(div) - len("</div>")) is not None, div
            assert _plain_div(div) == _scan_div(div) == _check_div(div) == (True, True)


@pytest.fixture
def fresh_engine() -> Engine:
    built = Engine()
    built.add(fixtures.questionnaire())
    return built


def _observations(count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    out = []
    for i in range(count):
        r = fixtures.fresh("Observation")
        r["id"] = f"fast-{i}"
        r["identifier"][0]["value"] = f"EP-{i}/obs/pain.nrs/INTAKE-1"
        r["valueQuantity"]["value"] = round(rng.uniform(0, 10), 6)
        r["effectiveDateTime"] = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00+00:00"
        r["text"]["div"] = f'<div xmlns="http://www.w3.org/1999/xhtml"><p>Pain {i}</p></div>'
        out.append(r)
    return out


def test_the_caches_hold_little_after_thousands_of_distinct_resources(fresh_engine: Engine) -> None:
    """Before e6b1e08 the invariant caches were keyed by orjson's bytes, each pinning a 2-4 KiB buffer:
    35 MiB kept after these 4,000 Observations (5 MiB now: short copies or 17-byte digests as keys)."""
    resources = _observations(4000)
    for r in resources[:20]:
        assert not has_errors(fresh_engine.validate(r)), fresh_engine.validate(r)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for r in resources:
            fresh_engine.validate(r)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 8 * 2**20, f"the validator kept {held / 2**20:.1f} MiB after 4,000 distinct Observations"


def test_long_values_are_memoised_by_a_digest(fresh_engine: Engine) -> None:
    r = fixtures.fresh("Observation")
    r["code"]["text"] = "Pain severity " + "x" * 400
    assert not has_errors(fresh_engine.validate(r))
    keys = [key[2] for key in fresh_engine.memo]
    assert keys and all(len(k) <= MEMO_RAW_BYTES for k in keys)
    assert any(k.startswith(b"\0") and len(k) == 17 for k in keys)
    assert fresh_engine.validate(r) == fresh_engine.validate(r)  # the memoised answer is the same


def test_the_cache_budget_empties_every_cache_past_its_limit() -> None:
    class Owner:
        def __init__(self) -> None:
            self.cache: dict[Any, Any] = {"k": 1}

    budget = CacheBudget(limit_bytes=10_000)
    owners = [Owner(), Owner()]
    for owner in owners:
        budget.register(owner)
    for _ in range(40):  # 40 x (50 + ENTRY_OVERHEAD) = 10,000 bytes: at the limit, not past it
        budget.spend(50)
    assert all(owner.cache for owner in owners)
    budget.spend(50)
    assert not any(owner.cache for owner in owners) and budget.held == 0
