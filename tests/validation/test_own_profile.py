"""A small profile of the validator's own (data/profile, FSH source included, built with SUSHI 3.21.0
against R4 4.0.1): closed pattern slicing, an extension slice, a required binding to a local ValueSet,
a choice restricted to two types, a constrained datatype child, max 0 and a profile invariant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.validation import Engine
from tests.validation.conftest import ensure_definitions

DATA = Path(__file__).parent / "data" / "profile"
PROFILE = "http://example.org/fhir/validation-test/StructureDefinition/test-observation"
FLAG = "http://example.org/fhir/validation-test/StructureDefinition/test-flag"
METHOD = "http://example.org/fhir/validation-test/CodeSystem/test-method"
JSON = dict[str, Any]


@pytest.fixture(scope="module")
def profile_engine() -> Engine:
    ensure_definitions()
    return Engine(profiles=DATA)


def valid() -> JSON:
    return {
        "resourceType": "Observation",
        "meta": {"profile": [PROFILE]},
        "extension": [{"url": FLAG, "valueBoolean": True}],
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "survey"}]}],
        "code": {"text": "test"},
        "method": {"coding": [{"system": METHOD, "code": "a"}]},
        "valueQuantity": {"value": 1, "unit": "x"},
    }  # fmt: skip


def _errors(engine: Engine, resource: JSON) -> list[tuple[str, str]]:
    return [
        (i["expression"][0], i["diagnostics"]) for i in engine.validate(resource)["issue"] if i["severity"] == "error"
    ]


def test_valid_instance_passes(profile_engine: Engine) -> None:
    assert _errors(profile_engine, valid()) == []


CASES: list[tuple[str, Callable[[JSON], Any], str, str]] = [
    ("extension-slice-missing", lambda r: r.pop("extension"), "Observation.extension", "flag"),
    ("extension-value-type", lambda r: r["extension"][0].update(valueBoolean="yes"),
     "Observation.extension[0].valueBoolean", "JSON boolean"),
    ("extension-wrong-type", lambda r: r.update(extension=[{"url": FLAG, "valueString": "x"}]),
     "Observation.extension[0].valueString", "not allowed"),
    ("closed-slicing", lambda r: r["category"].append({"text": "other"}), "Observation.category[1]", "closed"),
    ("slice-missing", lambda r: r["category"][0]["coding"][0].update(code="exam"), "Observation.category[0]", "closed"),
    ("method-required", lambda r: r.pop("method"), "Observation.method", "minimum required"),
    ("method-binding", lambda r: r["method"]["coding"][0].update(code="c"), "Observation.method",
     "not in the value set"),
    ("method-unknown-code", lambda r: r["method"]["coding"][0].update(code="c"), "Observation.method.coding[0].code",
     "Unknown code"),
    ("value-type", lambda r: r.pop("valueQuantity") and r.update(valueBoolean=True), "Observation.valueBoolean",
     "not allowed"),
    ("datatype-child-required", lambda r: r["valueQuantity"].pop("unit"), "Observation.valueQuantity.unit",
     "minimum required"),
    ("max-zero", lambda r: r.update(note=[{"text": "x"}]), "Observation.note", "max allowed = 0"),
    ("invariant", lambda r: r.pop("valueQuantity") and r.update(valueString="more than ten"), "Observation", "test-1"),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "expression", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_profile_defect_is_rejected(profile_engine: Engine, mutate: Callable[[JSON], Any], expression: str,
                                    fragment: str) -> None:  # fmt: skip
    resource = valid()
    mutate(resource)
    found = _errors(profile_engine, resource)
    assert any(expr == expression and fragment in message for expr, message in found), found


def test_short_string_value_passes(profile_engine: Engine) -> None:
    resource = valid()
    del resource["valueQuantity"]
    resource["valueString"] = "short"
    assert _errors(profile_engine, resource) == []
