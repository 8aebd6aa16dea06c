"""Any JSON shape at any position yields an OperationOutcome, never an exception."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from service.validation import Engine
from service.validation.jsonio import JsonProblem, load_json
from tests.validation import fixtures

ODD_VALUES: list[Any] = [None, "", [], {}, 0, -1, 1.5, True, "x", [None], [{}], {"a": 1}, {"id": "x"}]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from paths(item, (*prefix, index))


def replaced(resource: Any, path: tuple[Any, ...], value: Any) -> Any:
    copied = copy.deepcopy(resource)
    target = copied
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copied


@pytest.mark.parametrize("name", [*fixtures.BUILDERS, "Bundle"])
def test_every_position_with_every_odd_value(engine: Engine, name: str) -> None:
    resource = fixtures.fresh(name)
    for path in paths(resource):
        if name == "Bundle" and path[:1] == ("entry",) and len(path) > 2 and path[1] != 1:
            continue  # the entries' resources have their own cases; keep one entry (an Observation)
        for value in ODD_VALUES:
            outcome = engine.validate(replaced(resource, path, value))
            assert outcome["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("document", [None, [], "Patient", 5, {}, {"resourceType": 5}, {"resourceType": "Nope"},
                                      {"resourceType": "Bundle", "entry": [None, 1, {"resource": []}]}])  # fmt: skip
def test_non_resources(engine: Engine, document: Any) -> None:
    outcome = engine.validate(document)
    assert any(i["severity"] == "error" for i in outcome["issue"])


def test_deep_nesting_is_an_outcome_not_an_exception(engine: Engine) -> None:
    questionnaire: dict[str, Any] = {"resourceType": "Questionnaire", "status": "active"}
    current = questionnaire
    for i in range(900):
        child: dict[str, Any] = {"linkId": str(i), "type": "group"}
        current["item"] = [child]
        current = child
    issues = engine.validate(questionnaire)["issue"]
    assert [i["severity"] for i in issues] == ["fatal"]


def test_json_reading_problems() -> None:
    with pytest.raises(JsonProblem):
        load_json(b'{"a":' * 1000 + b"1" + b"}" * 1000)
    with pytest.raises(JsonProblem):
        load_json(b'{"value": NaN}')
    with pytest.raises(JsonProblem):
        load_json(b'{"text": "\\ud800"}')
    assert load_json(b'[{"x": 1, "x": 2}, {"y": {"z": 1, "z": 1}}]').duplicates == (("$[0]", "x"), ("$[1].y", "z"))
    assert load_json("\ufeff{}").value == {}
