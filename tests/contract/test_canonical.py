"""Every ETMI_* constant of mappings/canonical.py has an artifact in profiles/package, and every
artifact is referenced by a constant (or is the IG itself, an example, or listed below)."""

from __future__ import annotations

import re

from mappings import canonical
from tests.contract.ig import PACKAGE, artifacts, by_url, load

ETMI_URLS = {
    name: value for name, value in vars(canonical).items() if name.startswith("ETMI_") and isinstance(value, str)
}
#: Artifacts published without their own constant (none today; add with a reason).
UNREFERENCED_ALLOWED: set[str] = set()

TYPE_BY_PREFIX = {
    "ETMI_CS_": "CodeSystem",
    "ETMI_VS_": "ValueSet",
    "ETMI_SD_": "StructureDefinition",
    "ETMI_EXT_": "StructureDefinition",
    "ETMI_Q_": "Questionnaire",
    "ETMI_IG": "ImplementationGuide",
}


def test_every_constant_has_an_artifact_of_the_right_type() -> None:
    published = by_url()
    missing = sorted(f"{name} = {url}" for name, url in ETMI_URLS.items() if url not in published)
    assert not missing, f"constants without an artifact: {missing}"
    for name, url in ETMI_URLS.items():
        expected = next(t for prefix, t in TYPE_BY_PREFIX.items() if name.startswith(prefix))
        assert published[url]["resourceType"] == expected, name


def test_every_artifact_is_referenced_by_a_constant() -> None:
    known = set(ETMI_URLS.values()) | UNREFERENCED_ALLOWED
    orphans = sorted(r["url"] for r in artifacts() if r["url"] not in known)
    assert not orphans, f"artifacts without a constant in mappings/canonical.py: {orphans}"


def test_artifact_urls_follow_the_canonical_base_and_file_names() -> None:
    for path in sorted(PACKAGE.glob("*-*.json")):
        if path.name.startswith("."):
            continue
        resource = load(path)
        assert path.name == f"{resource['resourceType']}-{resource['id']}.json"
        assert resource["url"] == f"{canonical.BASE}/{resource['resourceType']}/{resource['id']}"


def test_extension_constants_are_extensions() -> None:
    for url in (canonical.ETMI_EXT_SESSION_NUMBER, canonical.ETMI_EXT_SESSION_COMPONENT):
        sd = by_url()[url]
        assert sd["type"] == "Extension" and sd["derivation"] == "constraint"


def test_ig_lists_every_artifact_and_example() -> None:
    ig = by_url()[canonical.ETMI_IG]
    assert ig["packageId"] == canonical.IG_PACKAGE_ID
    assert ig["version"] == canonical.IG_VERSION
    assert ig["fhirVersion"] == [canonical.FHIR_VERSION]
    listed = {r["reference"]["reference"] for r in ig["definition"]["resource"]}
    files = {p.stem.replace("-", "/", 1) for p in PACKAGE.rglob("*-*.json") if not p.name.startswith(".")}
    assert listed == files - {f"ImplementationGuide/{ig['id']}"}


def test_local_codes_of_canonical_are_in_the_code_systems() -> None:
    obs = {c["code"] for c in by_url()[canonical.ETMI_CS_OBSERVATION]["concept"]}
    obs_constants = {v for k, v in vars(canonical).items() if k.startswith("OBS_") and k != "OBS_FABQ_ITEM_PREFIX"}
    fabq_items = {f"{canonical.OBS_FABQ_ITEM_PREFIX}{n}" for n in range(1, 17)}
    assert obs == obs_constants | fabq_items
    stages = {c["code"] for c in by_url()[canonical.ETMI_CS_TTM_STAGE]["concept"]}
    assert stages == set(canonical.TTM_STAGES)
    interventions = {c["code"] for c in by_url()[canonical.ETMI_CS_INTERVENTION]["concept"]}
    assert interventions == {v for k, v in vars(canonical).items() if k.startswith("INTERVENTION_")}


def test_code_systems_are_complete_and_documented() -> None:
    for cs in (r for r in artifacts() if r["resourceType"] == "CodeSystem"):
        assert cs["content"] == "complete" and cs["status"] == "active", cs["id"]
        assert re.search(r"[Ll]ocal|no (verified )?(LOINC|SNOMED)|has no", cs["description"]), cs["id"]
        for concept in cs["concept"]:
            assert concept.get("display") and concept.get("definition"), (cs["id"], concept["code"])
