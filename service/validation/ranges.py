"""Native equivalents of the ETMI profiles' value-range invariants (``etmi-range-*``, ``etmi-goal-target-range``).

The profiles bound a Quantity with one expression shape, N varying::

    (value as Quantity).value >= 0 and (value as Quantity).value <= N
    target.all((detail as Quantity).value >= 0 and (detail as Quantity).value <= N)

Each mapped Observation or Goal has its own values, so the cache by value of ``invariants.Part`` misses and
fhirpathpy ran on most of them (0.3 ms a Goal). The natives here decide the usual shape (one Quantity[x] whose
``value`` is a JSON number, no ``_value`` part, no other type of the choice) and answer None for anything else,
which fhirpathpy then evaluates: they are PARTIAL natives, found by the expression's shape rather than by key.
``tests/validation/test_speed_natives.py`` compares them with fhirpathpy on inputs of every shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Native = Callable[[Any, dict[str, Any]], bool | None]

_NUMBER = r"(0|[1-9][0-9]{0,8})"
_VALUE = re.compile(rf"\(value as Quantity\)\.value >= 0 and \(value as Quantity\)\.value <= {_NUMBER}")
_TARGET = re.compile(
    rf"target\.all\(\(detail as Quantity\)\.value >= 0 and \(detail as Quantity\)\.value <= {_NUMBER}\)"
)


#: Whether a set of JSON property names has the choice's Quantity as its only JSON name, by (choice, names).
_ALONE: dict[tuple[str, tuple[str, ...]], bool] = {}


def _alone(data: dict[str, Any], choice: str, wanted: str) -> bool:
    names = tuple(data)
    found = _ALONE.get((choice, names))
    if found is None:
        found = True
        for key in names:
            name = key[1:] if key[:1] == "_" else key
            if key != wanted and name.startswith(choice) and name[len(choice) : len(choice) + 1].isupper():
                found = False
        if len(_ALONE) >= 1024:
            _ALONE.clear()
        _ALONE[(choice, names)] = found
    return found


def _quantity_value(data: dict[str, Any], choice: str) -> int | float | None:
    """The ``value`` of ``data[choice + "Quantity"]`` when that is the choice's only JSON property and the value is
    a plain JSON number; else None."""
    wanted = choice + "Quantity"
    quantity = data.get(wanted)
    if type(quantity) is not dict or "_value" in quantity or not _alone(data, choice, wanted):
        return None
    value = quantity.get("value")
    return value if type(value) is int or type(value) is float else None


def _value_range(top: int) -> Native:
    def value_in_range(data: Any, env: dict[str, Any]) -> bool | None:
        if type(data) is not dict:
            return None
        value = _quantity_value(data, "value")
        return None if value is None else 0 <= value <= top

    return value_in_range


def _target_range(top: int) -> Native:
    def targets_in_range(data: Any, env: dict[str, Any]) -> bool | None:
        if type(data) is not dict or "_target" in data:
            return None
        targets = data.get("target")
        if type(targets) is not list or not targets:
            return None
        verdict = True
        for target in targets:
            value = _quantity_value(target, "detail") if type(target) is dict else None
            if value is None:
                return None
            verdict = verdict and 0 <= value <= top
        return verdict

    return targets_in_range


def range_native(expression: str) -> Native | None:
    """The native of an ETMI value-range invariant, or None for any other expression."""
    if (found := _VALUE.fullmatch(expression)) is not None:
        return _value_range(int(found.group(1)))
    if (found := _TARGET.fullmatch(expression)) is not None:
        return _target_range(int(found.group(1)))
    return None
