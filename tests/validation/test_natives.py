"""The native invariants agree with fhirpathpy wherever fhirpathpy can evaluate the R4 expression."""

from __future__ import annotations

from typing import Any

import pytest
from fhirpathpy import evaluate

from service.validation.invariants import _OPTIONS, MODEL
from service.validation.natives import NATIVES

_E = "http://x/Patient/1"
BUNDLES: list[Any] = [
    {"resourceType": "Bundle", "type": t, "entry": entries}
    for t in ("transaction", "batch-response", "searchset", "history", "collection")
    for entries in (
        [{"fullUrl": _E, "request": {"method": "POST", "url": "Patient"}}],
        [{"fullUrl": _E, "response": {"status": "201"}}],
        [{"fullUrl": _E}, {"fullUrl": _E}],
        [{"fullUrl": _E, "resource": {"resourceType": "Patient", "meta": {"versionId": "1"}}},
         {"fullUrl": _E, "resource": {"resourceType": "Patient", "meta": {"versionId": "2"}}}],
    )
]  # fmt: skip

CASES: dict[str, tuple[str, list[Any]]] = {
    "bdl-3": ("Bundle", BUNDLES),
    "bdl-4": ("Bundle", BUNDLES),
    "bdl-7": ("Bundle", BUNDLES),
    "ext-1": (
        "Extension",
        [
            {"url": "u", "valueString": "x"},
            {"url": "u"},
            {"url": "u", "extension": [{"url": "a", "valueString": "b"}]},
            {"url": "u", "valueString": "x", "extension": [{"url": "a", "valueString": "b"}]},
        ],
    ),
    "dom-6": (
        "Observation",
        [
            {"resourceType": "Observation"},
            {"resourceType": "Observation", "text": {"status": "empty"}},
            {"resourceType": "Observation", "text": {"status": "generated", "div": "<div/>"}},
        ],
    ),
    "obs-7": (
        "Observation",
        [
            {"resourceType": "Observation", "code": {"coding": [{"system": "s", "code": "a"}]}, "valueString": "x"},
            {
                "resourceType": "Observation",
                "code": {"coding": [{"system": "s", "code": "a"}]},
                "valueString": "x",
                "component": [{"code": {"coding": [{"system": "s", "code": "a"}]}}],
            },
            {
                "resourceType": "Observation",
                "code": {"coding": [{"system": "s", "code": "a"}]},
                "component": [{"code": {"coding": [{"system": "s", "code": "a"}]}}],
            },
            {
                "resourceType": "Observation",
                "code": {"coding": [{"system": "s", "code": "a"}]},
                "valueString": "x",
                "component": [{"code": {"coding": [{"system": "s", "code": "b"}]}}],
            },
        ],
    ),
    "que-2": (
        "Questionnaire",
        [
            {"resourceType": "Questionnaire", "item": [{"linkId": "a"}, {"linkId": "b", "item": [{"linkId": "c"}]}]},
            {"resourceType": "Questionnaire", "item": [{"linkId": "a"}, {"linkId": "b", "item": [{"linkId": "a"}]}]},
        ],
    ),
}


@pytest.mark.parametrize("key", sorted(CASES))
def test_native_matches_fhirpathpy(key: str) -> None:
    expression, native = NATIVES[key]
    base, samples = CASES[key]
    for sample in samples:
        env = {"resource": sample, "rootResource": sample}
        expected = evaluate(sample, {"base": base, "expression": expression}, env, MODEL, _OPTIONS) == [True]
        assert native(sample, env) is expected, sample


def test_ref_1_resolves_contained() -> None:
    _, native = NATIVES["ref-1"]
    root = {"resourceType": "Observation", "contained": [{"resourceType": "Patient", "id": "p"}]}
    env = {"resource": root, "rootResource": root}
    assert native({"reference": "#p"}, env)
    assert not native({"reference": "#q"}, env)
    assert native({"reference": "Patient/1"}, env)


def test_dom_3_requires_a_reference_to_each_contained_resource() -> None:
    _, native = NATIVES["dom-3"]
    contained = [{"resourceType": "Patient", "id": "p"}]
    assert native({"contained": contained, "subject": {"reference": "#p"}}, {})
    assert not native({"contained": contained}, {})


@pytest.mark.parametrize(
    ("div", "ok1", "ok2"),
    [
        ('<div xmlns="http://www.w3.org/1999/xhtml"><p>Text</p></div>', True, True),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><script>x()</script></div>', False, True),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">a</p></div>', False, True),
        ('<div xmlns="http://www.w3.org/1999/xhtml">  </div>', True, False),
        ("<div>no namespace</div>", False, True),
        ("not xml", False, False),
    ],
)
def test_narrative_checks(div: str, ok1: bool, ok2: bool) -> None:
    narrative = {"status": "generated", "div": div}
    assert NATIVES["txt-1"][1](narrative, {}) is ok1
    assert NATIVES["txt-2"][1](narrative, {}) is ok2


def test_que_7_accepts_fhir_booleans() -> None:
    _, native = NATIVES["que-7"]
    assert native({"question": "q", "operator": "exists", "answerBoolean": True}, {})
    assert not native({"question": "q", "operator": "exists", "answerInteger": 1}, {})
    assert native({"question": "q", "operator": "=", "answerInteger": 1}, {})
