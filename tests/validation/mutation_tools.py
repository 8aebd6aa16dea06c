"""Builders of single-defect mutations for the validator's mutation suite (``test_mutations.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]
Mutation = Callable[[JSON], Any]


def _set(path: str, value: Any) -> Mutation:
    def mutate(resource: JSON) -> None:
        target: Any = resource
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        target[int(last) if last.isdigit() else last] = value

    return mutate


def _del(path: str) -> Mutation:
    def mutate(resource: JSON) -> None:
        target: Any = resource
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[int(parts[-1]) if parts[-1].isdigit() else parts[-1]]

    return mutate


def _absent(name: str) -> Mutation:
    """Replaces a primitive by its data-absent-reason extension only."""

    def mutate(resource: JSON) -> None:
        del resource[name]
        absent = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
        resource["_" + name] = {"extension": [absent]}

    return mutate
