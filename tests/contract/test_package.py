"""Shape of the FHIR NPM package and R4 structure of every JSON file in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from mappings import canonical
from tests.contract.ig import EXAMPLES, PACKAGE, Resource, load, resource_files

ALL_FILES = resource_files(PACKAGE) + resource_files(EXAMPLES)


def test_package_json() -> None:
    manifest = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))
    assert manifest["name"] == canonical.IG_PACKAGE_ID
    assert manifest["version"] == canonical.IG_VERSION
    assert manifest["canonical"] == canonical.BASE
    assert manifest["fhirVersions"] == ["4.0.1"]
    assert manifest["dependencies"] == {"hl7.fhir.r4.core": "4.0.1"}


def test_index_files_list_every_resource() -> None:
    for folder in (PACKAGE, EXAMPLES):
        index = json.loads((folder / ".index.json").read_text(encoding="utf-8"))
        assert sorted(f["filename"] for f in index["files"]) == [p.name for p in resource_files(folder)]


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_parses_with_r4b_models(path: Path) -> None:
    resource: Resource = load(path)
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_structure_definitions_carry_snapshots() -> None:
    for path in resource_files(PACKAGE):
        sd = load(path)
        if sd["resourceType"] != "StructureDefinition":
            continue
        assert sd["fhirVersion"] == "4.0.1", sd["id"]
        assert sd["derivation"] == "constraint", sd["id"]
        assert sd["baseDefinition"].startswith("http://hl7.org/fhir/StructureDefinition/"), sd["id"]
        snapshot_ids = {e["id"] for e in sd["snapshot"]["element"]}
        assert {e["id"] for e in sd["differential"]["element"]} <= snapshot_ids, sd["id"]


def test_examples_declare_a_package_profile_except_the_patient() -> None:
    urls = {load(p).get("url") for p in resource_files(PACKAGE)}
    for path in resource_files(EXAMPLES):
        resource = load(path)
        profiles = resource.get("meta", {}).get("profile", [])
        if resource["resourceType"] == "Patient":
            continue
        assert profiles and set(profiles) <= urls, path.name
