"""Session 20's fast paths of the narratives (bench/profiles/mapping.md) give exactly what the plain code gave:
the placement of ``text`` against the key-by-key copy, answer texts and Observation rows against ``value_x``,
the escaping against ``html.escape``, quantities, Procedure rows and answer maps against the code they replaced.
"""

from __future__ import annotations

import random
from html import escape
from typing import Any

import pytest

from mappings import canonical as c
from mappings import extraction, narrative, texts
from tests.unit.test_mapping_fast_paths import Text


def plain_with_narrative(resource: dict[str, Any]) -> dict[str, Any]:
    """``with_narrative`` as it was: every key but text copied one by one around the new text."""
    if isinstance(resource.get("text"), dict) and resource["text"].get("div"):
        return resource
    keys = [k for k in resource if k != "text"]
    anchor = 0
    for i, key in enumerate(keys):
        if key in ("resourceType", "id", "meta", "implicitRules", "language"):
            anchor = i + 1
    out = {k: resource[k] for k in keys[:anchor]}
    out["text"] = narrative.narrative(resource)
    for key in keys[anchor:]:
        out[key] = resource[key]
    return out


@pytest.mark.parametrize("seed", range(100))
def test_the_narrative_goes_where_the_key_by_key_copy_put_it(seed: int) -> None:
    rng = random.Random(seed)
    keys = ["resourceType", "id", "meta", "implicitRules", "language", "identifier", "status", "code", "subject"]
    chosen = rng.sample(keys, rng.randrange(len(keys) + 1))
    resource: dict[str, Any] = {k: {"text": k} if k in ("meta", "code") else k for k in chosen}
    if rng.random() < 0.3:  # a text to replace, somewhere
        resource["text"] = rng.choice([None, {}, {"div": ""}, "x"])
        if rng.random() < 0.5:
            resource = {**{k: resource[k] for k in list(resource)[::-1]}}
    assert list(narrative.with_narrative(resource).items()) == list(plain_with_narrative(resource).items())


@pytest.mark.parametrize("seed", range(50))
def test_answer_texts_as_value_x(seed: int) -> None:
    rng = random.Random(seed)
    keys = ["valueCoding", "valueInteger", "valueBoolean", "valueString", "valueDecimal", "valueDate", "valueQuantity",
            "valueReference", "valueAttachment", "item", "extension", "valueUri"]
    values: list[Any] = [1, 0, 2.5, True, False, "a&b", "", None, Text("t"), {"code": "c"}, {"display": "d"},
                         {"text": "t", "code": "c"}, {"value": 3, "unit": "min"}, [1], {"display": "who"}]
    for _ in range(200):
        answer = {k: rng.choice(values) for k in rng.sample(keys, rng.randrange(1, 3))}
        assert _outcome(texts.answer_text, answer) == _outcome(texts.value_x, answer), answer


def _outcome(function: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "value", function(*args)
    except Exception as err:  # the same failure either way
        return "raised", type(err)


@pytest.mark.parametrize("seed", range(20))
def test_escape_as_html_escape(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(500):
        text = "".join(rng.choice("ab&<>\"' \x01é") for _ in range(rng.randrange(12)))
        assert texts.escape_html(text) == escape(text)


def test_quantities_and_answer_maps_as_before() -> None:
    """A Quantity's number formats as _number gave it; a one-coding answer maps as _plain gives it."""
    for number in (0, 3, -2, 2.5, 1e21, 1.0, True, False, "7", None, Text("8")):
        quantity = {"value": number, "unit": "min"}
        assert texts.quantity(quantity) == f"{texts.number_text(number)} min".strip()
    answers: list[dict[str, Any]] = [{"valueCoding": {"code": "a"}}, {"valueCoding": {"code": 3}}, {"valueCoding": {}},
                                     {"valueCoding": {"code": "a"}, "item": []}, {"valueInteger": 2}]
    for answer in answers:
        assert extraction._answer_map([("q", 0, answer)]) == {"q": (extraction._plain(answer),)}


def plain_procedure_rows(r: dict[str, Any]) -> tuple[str, str]:
    """Session number and components as _procedure read them before (one filtered list per extension URL)."""
    def extensions(url: str) -> list[Any]:
        return [e for e in r.get("extension", []) if isinstance(e, dict) and e.get("url") == url]
    number = next((e.get("valuePositiveInt") for e in extensions(c.ETMI_EXT_SESSION_NUMBER)), None)
    components = "; ".join(texts.concept(e.get("valueCodeableConcept"))
                           for e in extensions(c.ETMI_EXT_SESSION_COMPONENT))
    return "" if number is None else str(number), components


@pytest.mark.parametrize("seed", range(50))
def test_procedure_rows_as_before(seed: int) -> None:
    rng = random.Random(seed)
    choices: list[Any] = [{"url": c.ETMI_EXT_SESSION_NUMBER, "valuePositiveInt": 2},
                          {"url": c.ETMI_EXT_SESSION_NUMBER, "valuePositiveInt": 3}, {"url": c.ETMI_EXT_SESSION_NUMBER},
                          {"url": c.ETMI_EXT_SESSION_COMPONENT, "valueCodeableConcept": {"text": "walk"}},
                          {"url": c.ETMI_EXT_SESSION_COMPONENT, "valueCodeableConcept": {"coding": [{"code": "x"}]}},
                          {"url": c.ETMI_EXT_SESSION_COMPONENT}, {"url": "other", "valuePositiveInt": 9}, "junk"]
    resource = {"resourceType": "Procedure", "extension": [rng.choice(choices) for _ in range(rng.randrange(6))]}
    rows = dict(narrative._procedure(resource)[1])
    assert (rows["Session"], rows["Components"]) == plain_procedure_rows(resource)


@pytest.mark.parametrize("seed", range(50))
def test_observation_rows_as_value_x(seed: int) -> None:
    """The value[x] and effective[x] keys found once per set of keys read as value_x finds them."""
    rng = random.Random(seed)
    keys = ["valueQuantity", "valueString", "valueCodeableConcept", "effectiveDateTime", "effectivePeriod", "status",
            "value", "effective", "valuex", "code", "issued"]
    values: list[Any] = ["s", 3, True, {"value": 2, "unit": "d"}, {"text": "t"}, {"start": "2026", "end": "2027"}]
    for _ in range(40):
        r = {"resourceType": "Observation", **{k: rng.choice(values) for k in rng.sample(keys, rng.randrange(6))}}
        rows = dict(narrative._observation(r)[1])
        assert (rows["Value"], rows["Effective"]) == (texts.value_x(r), texts.value_x(r, "effective"))
