"""Every example carries its profile's fixed codes and units, meets its cardinalities and slices,
and satisfies the profile's own invariants (evaluated with fhirpathpy, the project's engine)."""

from __future__ import annotations

from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.models import models

from mappings import canonical
from tests.contract.ig import EXAMPLES, Resource, load, profile, resource_files

PROFILED = [p for p in resource_files(EXAMPLES) if load(p).get("meta", {}).get("profile")]
R4 = models["r4"]


def fhirpath(resource: Resource, expression: str) -> list[Any]:
    result: list[Any] = fhirpathpy.evaluate(resource, expression, {}, R4)
    return result


def contains(value: Any, pattern: Any) -> bool:
    """FHIR pattern semantics: every key / list item of the pattern is found in the value."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(contains(value.get(k), v) for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(contains(v, p) for v in value) for p in pattern)
    return bool(value == pattern)


def fhirpath_of(element_path: str) -> str:
    return element_path.replace("[x]", "")


def pattern_of(element: Resource) -> Any:
    for key, value in element.items():
        if key.startswith(("pattern", "fixed")):
            return value
    return None


def sd_of(resource: Resource) -> Resource:
    return profile(resource["meta"]["profile"][0])


@pytest.mark.parametrize("path", PROFILED, ids=lambda p: p.name)
def test_example_matches_profile_elements(path: Any) -> None:
    resource = load(path)
    sd = sd_of(resource)
    assert sd["type"] == resource["resourceType"]
    for element in sd["differential"]["element"]:
        if ":" in element["id"] or "." not in element["path"]:
            continue
        values = fhirpath(resource, fhirpath_of(element["path"]))
        if element.get("min", 0) >= 1 and element["path"].count(".") == 1:
            assert len(values) >= element["min"], f"{path.name}: {element['id']} min {element['min']}"
        if element.get("max") == "0":
            assert not values, f"{path.name}: {element['id']} must be absent"
        pattern = pattern_of(element)
        if pattern is not None:
            assert values and all(contains(v, pattern) for v in values), f"{path.name}: {element['id']}"


@pytest.mark.parametrize("path", PROFILED, ids=lambda p: p.name)
def test_example_fills_its_slices(path: Any) -> None:
    resource = load(path)
    for element in sd_of(resource)["differential"]["element"]:
        if "sliceName" not in element or element.get("min", 0) < 1:
            continue
        parent = fhirpath(resource, fhirpath_of(element["path"]))
        pattern = pattern_of(element)
        if pattern is not None:
            matches = [v for v in parent if contains(v, pattern)]
        else:  # extension slice: match by the extension's url
            url = element["type"][0]["profile"][0]
            matches = [v for v in parent if v.get("url") == url]
        assert len(matches) >= element["min"], f"{path.name}: slice {element['id']}"


@pytest.mark.parametrize("path", PROFILED, ids=lambda p: p.name)
def test_example_satisfies_profile_invariants(path: Any) -> None:
    resource = load(path)
    sd = sd_of(resource)
    for element in sd["snapshot"]["element"]:
        for constraint in element.get("constraint", []):
            if constraint.get("source") != sd["url"]:
                continue
            context = fhirpath_of(element["path"])
            nodes = [resource] if "." not in context else fhirpath(resource, context)
            for node in nodes:
                result = fhirpath(node, constraint["expression"])
                assert result == [True], f"{path.name}: {constraint['key']} on {context} gave {result}"


RANGES = {
    canonical.ETMI_SD_OBS_PAIN: ("{score}", 0, 10),
    canonical.ETMI_SD_OBS_FUNCTION: ("{score}", 0, 100),
    canonical.ETMI_SD_OBS_FEAR_AVOIDANCE: ("{score}", 0, 100),
    canonical.ETMI_SD_OBS_FABQ_PA: ("{score}", 0, 24),
    canonical.ETMI_SD_OBS_FABQ_W: ("{score}", 0, 42),
    canonical.ETMI_SD_OBS_EVS_DAYS: ("d/wk", 0, 7),
    canonical.ETMI_SD_OBS_EVS_MIN_PER_DAY: ("min/d", 0, 600),
    canonical.ETMI_SD_OBS_EVS_MIN_PER_WEEK: ("min/wk", 0, 4200),
    canonical.ETMI_SD_OBS_STRENGTH_DAYS: ("d/wk", 0, 7),
    canonical.ETMI_SD_OBS_PHQ2: ("{score}", 0, 6),
    canonical.ETMI_SD_OBS_GAD2: ("{score}", 0, 6),
}


@pytest.mark.parametrize("url", sorted(RANGES))
def test_quantity_profiles_fix_ucum_unit_and_range(url: str) -> None:
    unit, low, high = RANGES[url]
    sd = profile(url)
    elements = {e["id"]: e for e in sd["snapshot"]["element"]}
    assert elements["Observation.value[x]"]["type"] == [{"code": "Quantity"}]
    assert pattern_of(elements["Observation.value[x].system"]) == canonical.UCUM
    assert pattern_of(elements["Observation.value[x].code"]) == unit
    invariants = [c["expression"] for c in elements["Observation"]["constraint"] if c.get("source") == url]
    assert f"(value as Quantity).value >= {low} and (value as Quantity).value <= {high}" in invariants
    examples = [load(p) for p in PROFILED if url in load(p)["meta"]["profile"]]
    assert examples, f"no example for {url}"
    for example in examples:
        quantity = example["valueQuantity"]
        assert quantity["system"] == canonical.UCUM and quantity["code"] == unit
        assert low <= quantity["value"] <= high


def test_every_profile_has_an_example() -> None:
    declared = {url for p in PROFILED for url in load(p)["meta"]["profile"]}
    sds = {v for k, v in vars(canonical).items() if k.startswith("ETMI_SD_")}
    assert sds <= declared | {canonical.ETMI_SD_QUESTIONNAIRE}
    questionnaires = [p for p in resource_files(EXAMPLES.parent) if load(p)["resourceType"] == "Questionnaire"]
    assert all(canonical.ETMI_SD_QUESTIONNAIRE in load(p)["meta"]["profile"] for p in questionnaires)
