"""The natives of the ETMI value-range invariants (service/validation/ranges.py) answer as fhirpathpy does.

Each sample is decided twice: by the constraint with its native, and by the same constraint with the native
removed (its fhirpathpy parts alone). The natives must decide the shapes the mapping produces themselves (else
they save nothing) and leave every unusual shape to fhirpathpy.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from service.validation import Engine
from service.validation.invariants import Constraint
from service.validation.ranges import range_native

VALUE = "(value as Quantity).value >= 0 and (value as Quantity).value <= {}"
TARGET = "target.all((detail as Quantity).value >= 0 and (detail as Quantity).value <= {})"
NUMBERS: list[Any] = [0, 1, 7, 10, 11, 100, 101, 4200, 4201, -1, -0.0, 0.0, 9.99, 10.0, 10.000000000000002, 99.5,
                      100.00001, 1e300, -1e-9, 2**53 + 1]  # fmt: skip
ODD: list[Any] = [None, True, False, "5", "", [5], {}, {"value": 5}]
QUANTITIES: list[Any] = (
    [{"value": v, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}"} for v in NUMBERS]
    + [{"value": v} for v in ODD]
    + [{}, {"unit": "x"}, {"value": 5, "_value": {"extension": [{"url": "u", "valueString": "x"}]}}, [{"value": 5}],
       "5", 5, None]
)  # fmt: skip


def _pair(expression: str) -> tuple[Constraint, Constraint]:
    native = Constraint("etmi-range-x", "error", "range", expression)
    plain = Constraint("etmi-range-x", "error", "range", expression)
    plain.native = None  # the fhirpathpy parts alone
    assert native.native is not None and plain.parts
    return native, plain


def _agree(expression: str, base: str, samples: list[dict[str, Any]]) -> int:
    native, plain = _pair(expression)
    decided = 0
    for sample in samples:
        env = {"resource": sample, "rootResource": sample}
        assert native.holds(sample, base, env) is plain.holds(sample, base, env), (expression, sample)
        decided += range_native(expression)(sample, env) is not None  # type: ignore[misc]
    return decided


@pytest.mark.parametrize("top", [6, 10, 100, 4200])
def test_the_value_range_native_agrees_with_fhirpathpy(top: int) -> None:
    samples: list[dict[str, Any]] = [{"resourceType": "Observation", "status": "final", "valueQuantity": q}
                                     for q in QUANTITIES]  # fmt: skip
    samples += [
        {"resourceType": "Observation"},
        {"resourceType": "Observation", "valueInteger": 5},
        {"resourceType": "Observation", "valueQuantity": {"value": 5}, "valueInteger": 50000},
        {"resourceType": "Observation", "valueQuantity": {"value": 50000}, "valueString": "5"},
        {"resourceType": "Observation", "valueQuantity": {"value": 5}, "_valueQuantity": {"id": "a"}},
        {"resourceType": "Observation", "dataAbsentReason": {"text": "asked but declined"}},
    ]
    decided = _agree(VALUE.format(top), "Observation", samples)
    assert decided >= len(NUMBERS)  # every plain number is decided natively


@pytest.mark.parametrize("top", [150, 4200])
def test_the_goal_target_range_native_agrees_with_fhirpathpy(top: int) -> None:
    measure = {"coding": [{"system": "http://loinc.org", "code": "82290-8"}]}
    targets: list[Any] = [{"measure": measure, "detailQuantity": q, "dueDate": "2026-04-05"} for q in QUANTITIES]
    targets += [{}, {"measure": measure}, {"detailInteger": 5}, {"detailQuantity": {"value": 5}, "detailString": "x"},
                {"detailQuantity": {"value": 5}, "_detailQuantity": {"id": "a"}}, None, "x", []]  # fmt: skip
    samples: list[dict[str, Any]] = [{"resourceType": "Goal"}, {"resourceType": "Goal", "target": []},
                                     {"resourceType": "Goal", "target": {"detailQuantity": {"value": 5}}},
                                     {"resourceType": "Goal", "_target": [{"id": "a"}]}]  # fmt: skip
    samples += [{"resourceType": "Goal", "target": [t]} for t in targets]
    samples += [{"resourceType": "Goal", "target": [a, b]} for a, b in itertools.product(targets[:12], repeat=2)]
    decided = _agree(TARGET.format(top), "Goal", samples)
    assert decided >= len(NUMBERS) + 144


def test_only_the_range_shapes_have_a_range_native() -> None:
    assert range_native(VALUE.format(10)) is not None and range_native(TARGET.format(4200)) is not None
    for other in (VALUE.format(10) + " or true", VALUE.format("10.5"), VALUE.replace("value as", "valueX as"),
                  "(value as Quantity).value >= 1 and (value as Quantity).value <= 10", TARGET.format("1e3"),
                  "code.exists() or detail.exists()"):  # fmt: skip
        assert range_native(other) is None, other


def test_every_range_invariant_of_the_etmi_profiles_is_decided_natively(engine: Engine) -> None:
    """The profiles' range invariants go to the natives (a change of their wording would silently lose them)."""
    ranges = []
    for url, sd in engine.defs.structures.items():
        if not url.startswith("http://etmi.example.org/"):
            continue
        for element in sd["elements"]:
            for constraint in element.get("constraint", []):
                if "as Quantity).value >=" in constraint.get("expression", ""):
                    ranges.append(constraint["expression"])
    assert len(ranges) >= 8
    assert all(range_native(expression) is not None for expression in ranges), ranges
