"""Valid-variant suite: every R4 JSON form a conformant server may emit is accepted.

The variants are built from the valid HAPI-style fixtures (and, for the primitive kinds the fixtures
lack, from extensions of that type): ``_`` parts with an id and an extension on every primitive, keys in
any order, ``resourceType`` anywhere in the object, contained resources referenced by ``#id`` (also
inside Bundle entries), extensions on every element, the JSON forms (a UTF-8 byte order mark), the
R4 core complex extensions whose children have relative URLs, and references to an opaque fullUrl.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from service.validation import Engine
from service.validation.jsonio import BOM, load_json
from tests.validation import fixtures

JSON = dict[str, Any]
NAMES = [*fixtures.BUILDERS, "Bundle"]
NOTE = "http://example.org/fhir/StructureDefinition/variant-note"  # unknown: a plain Extension
#: Not Elements (typed with FHIRPath System types: no id or extensions) or not extensible in R4 JSON.
NO_UNDERSCORE = frozenset({"id", "url", "div", "resourceType"})
#: A valid value of every R4 primitive type (used as Extension.value[x] to cover each kind).
PRIMITIVES: dict[str, Any] = {
    "base64Binary": "aGVsbG8gd29ybGQ=",
    "boolean": False,
    "canonical": "http://example.org/fhir/Questionnaire/q|1.0",
    "code": "abc",
    "date": "2024-05",
    "dateTime": "2024-05-02T09:14:03.512+02:00",
    "decimal": 1.50,
    "id": "a-1.b",
    "instant": "2024-05-02T09:14:03Z",
    "integer": -3,
    "markdown": "**bold** and a [link](http://example.org)",
    "oid": "urn:oid:2.16.840.1.113883.6.1",
    "positiveInt": 1,
    "string": "text",
    "time": "09:14:03",
    "unsignedInt": 0,
    "uri": "urn:example:anything",
    "url": "https://example.org/path?q=1",
    "uuid": "urn:uuid:6cd97d2a-b267-5dc0-be89-4a5bb9fd3e8f",
}


def holder(tag: str) -> JSON:
    return {"id": f"u-{tag}", "extension": [{"url": NOTE, "valueString": tag}]}


def errors(outcome: JSON) -> list[tuple[str, str]]:
    return [(i["expression"][0], i["diagnostics"]) for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


def _objects(value: Any) -> list[JSON]:
    """Every JSON object inside a value (depth first), the value first."""
    found: list[JSON] = []
    if isinstance(value, dict):
        found.append(value)
        for key, child in list(value.items()):
            if key != "div":
                found += _objects(child)
    elif isinstance(value, list):
        for child in value:
            found += _objects(child)
    return found


def with_underscores(resource: JSON, only_id: bool = False) -> JSON:
    """Adds a ``_`` part (an id, and an extension unless only_id) to every primitive."""
    for obj in _objects(resource):
        for key, value in list(obj.items()):
            if key in NO_UNDERSCORE or key.startswith("_") or isinstance(value, dict):
                continue
            if isinstance(value, list):
                if value and not isinstance(value[0], dict):
                    obj["_" + key] = [{"id": f"u{i}"} if only_id else holder(f"{key}{i}") for i in range(len(value))]
            else:
                obj["_" + key] = {"id": f"u-{key}"} if only_id else holder(key)
    return resource


def reordered(value: Any, rng: random.Random) -> Any:
    """The same JSON with the keys of every object in a random order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: reordered(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [reordered(v, rng) for v in value]
    return value


def with_extensions(resource: JSON) -> JSON:
    """Adds an extension to every element and every DomainResource: every object except the roots of
    resources that are not DomainResources and extensions that have a value (ext-1: not both)."""
    for obj in _objects(resource):
        valued_extension = "url" in obj and any(k.startswith("value") for k in obj)
        if obj.get("resourceType") in ("Bundle", "Parameters", "Binary") or valued_extension:
            continue
        obj.setdefault("extension", []).append({"url": NOTE, "valueString": "everywhere"})
    return resource


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("only_id", [False, True], ids=["id+extension", "id-only"])
def test_underscore_parts_on_every_primitive(engine: Engine, name: str, only_id: bool) -> None:
    resource = with_underscores(fixtures.fresh(name), only_id)
    assert errors(engine.validate(resource)) == []


@pytest.mark.parametrize("kind", sorted(PRIMITIVES))
def test_underscore_part_on_every_primitive_kind(engine: Engine, kind: str) -> None:
    patient = fixtures.fresh("Patient")
    key = "value" + kind[0].upper() + kind[1:]
    patient["extension"] = [{"url": NOTE, key: PRIMITIVES[kind], "_" + key: holder(kind)}]
    assert errors(engine.validate(patient)) == []


def test_primitive_kinds_cover_r4(engine: Engine) -> None:
    """PRIMITIVES lists every R4 primitive type except xhtml (no extensions in JSON)."""
    assert set(PRIMITIVES) == set(engine.primitives) - {"xhtml"}


def test_underscore_arrays_aligned_with_nulls(engine: Engine) -> None:
    patient = fixtures.fresh("Patient")
    patient["name"][0]["given"] = ["Pat", None, "Jo"]
    patient["name"][0]["_given"] = [None, holder("absent-middle"), {"id": "g3"}]
    assert errors(engine.validate(patient)) == []


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", range(3))
def test_keys_in_any_order_and_resource_type_anywhere(engine: Engine, name: str, seed: int) -> None:
    original = fixtures.fresh(name)
    shuffled = reordered(original, random.Random(seed))
    for obj in _objects(shuffled):
        if "resourceType" in obj:  # resourceType last
            obj["resourceType"] = obj.pop("resourceType")
    assert errors(engine.validate(shuffled)) == []
    assert errors(engine.validate(original)) == []


@pytest.mark.parametrize("name", NAMES)
def test_extensions_everywhere(engine: Engine, name: str) -> None:
    resource = with_extensions(fixtures.fresh(name))
    assert errors(engine.validate(resource)) == []


CONTAINED: dict[str, Callable[[JSON], None]] = {
    "Observation": lambda r: r.update(performer=[{"reference": "#pr"}]),
    "Condition": lambda r: r.update(asserter={"reference": "#pr"}),
    "Procedure": lambda r: r.update(performer=[{"actor": {"reference": "#pr"}}]),
    "Goal": lambda r: r.update(expressedBy={"reference": "#pr"}),
}


@pytest.mark.parametrize("name", sorted(CONTAINED))
def test_contained_resources(engine: Engine, name: str) -> None:
    resource = fixtures.fresh(name)
    resource["contained"] = [{"resourceType": "Practitioner", "id": "pr", "name": [{"family": "Smith"}]}]
    CONTAINED[name](resource)
    assert errors(engine.validate(resource)) == []


def test_contained_reference_inside_bundle_entries(engine: Engine) -> None:
    """``#id`` resolves in the entry's own resource (ref-1's %rootResource), not in the Bundle."""
    bundle = fixtures.fresh("Bundle")
    observation = bundle["entry"][1]["resource"]
    observation["contained"] = [{"resourceType": "Practitioner", "id": "pr"}]
    observation["performer"] = [{"reference": "#pr"}]
    assert errors(engine.validate(bundle)) == []


def test_reference_to_an_opaque_full_url(engine: Engine) -> None:
    """A reference equal to an entry's fullUrl resolves, whatever the URI scheme (``resource:0``)."""
    condition = fixtures.fresh("Condition")
    condition["subject"] = {"reference": "resource:0"}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "resource:0", "resource": fixtures.fresh("Patient")},
            {"fullUrl": "resource:1", "resource": condition},
        ],
    }
    assert errors(engine.validate(bundle)) == []


def test_value_and_underscore_part_are_one_element(engine: Engine) -> None:
    """The profile's status rule, ele-1 and con-4 see one element with a value (HAPI's fuzz cases)."""
    observation = fixtures.fresh("Observation")
    observation["_status"] = holder("status")
    observation["_effectiveDateTime"] = {"id": "x"}
    condition = fixtures.fresh("Condition")
    condition["clinicalStatus"]["coding"][0]["code"] = "resolved"
    condition["clinicalStatus"]["coding"][0]["_code"] = holder("code")
    condition["abatementDateTime"] = "2024-04-01"
    assert errors(engine.validate(observation)) == []
    assert errors(engine.validate(condition)) == []


def test_complex_extensions_with_relative_child_urls(engine: Engine) -> None:
    """US Core race (unknown here) and R4 core patient-nationality: children's URLs are relative."""
    patient = fixtures.fresh("Patient")
    patient["extension"] = [
        {
            "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
            "extension": [
                {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3"}},
                {"url": "text", "valueString": "White"},
            ],
        },
        {
            "url": "http://hl7.org/fhir/StructureDefinition/patient-nationality",
            "extension": [
                {"url": "code", "valueCodeableConcept": {"coding": [{"system": "urn:iso:std:iso:3166", "code": "NL"}]}}
            ],
        },
    ]
    assert errors(engine.validate(patient)) == []


@pytest.mark.parametrize("name", NAMES)
def test_byte_order_mark(engine: Engine, name: str) -> None:
    raw = BOM + orjson.dumps(fixtures.fresh(name))
    assert errors(engine.validate_loaded(load_json(raw))) == []
