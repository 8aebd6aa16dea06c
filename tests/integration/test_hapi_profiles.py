"""HAPI as the oracle for the ETMI implementation guide in profiles/package/.

The HAPI test server installs profiles/package/ at startup (tests/servers/hapi/start). Here every
example and every Questionnaire of the package must validate against its ETMI profile with no error,
and deliberately broken copies must fail. Errors are reported verbatim: they are findings about the
profiles (or about HAPI), never something to filter out here.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.hapi

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(os.environ.get("ETMI_IG_DIR") or ROOT / "profiles" / "package")
EXAMPLES = PACKAGE / "example"
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
TIMEOUT = 300  # the first $validate against a profile generates snapshots
PAIN_PROFILE = "http://etmi.example.org/fhir/StructureDefinition/etmi-observation-pain"


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _examples() -> list[Path]:
    # .index.json is the package index, not an example
    return sorted(p for p in EXAMPLES.glob("*.json") if not p.name.startswith(".")) if EXAMPLES.is_dir() else []


def _questionnaires() -> list[Path]:
    return sorted(PACKAGE.glob("Questionnaire-*.json")) if PACKAGE.is_dir() else []


def _etmi_profile(resource: dict[str, Any]) -> str | None:
    profiles = [p for p in resource.get("meta", {}).get("profile", []) if "etmi" in p]
    return profiles[0] if profiles else None


def _validate(base: str, resource: dict[str, Any], profile: str | None) -> list[str]:
    """Return the error and fatal messages HAPI's $validate reports, each with its location."""
    params = {"profile": profile} if profile else None
    r = requests.post(f"{base}/{resource['resourceType']}/$validate", params=params,
                      data=json.dumps(resource), headers=FHIR_JSON, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return [
        f"{','.join(i.get('expression', i.get('location', [])))}: {i.get('diagnostics', '')}"
        for i in outcome.get("issue", [])
        if i.get("severity") in ("error", "fatal")
    ]


def _need_package() -> None:
    if not (PACKAGE / "package.json").is_file():
        pytest.fail("profiles/package/ is missing: run profiles/build")


def _pain_example() -> dict[str, Any]:
    for path in _examples():
        resource = _load(path)
        if PAIN_PROFILE in resource.get("meta", {}).get("profile", []):
            return resource
    pytest.fail("no pain Observation example in profiles/package/example")


@pytest.mark.slow
@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_example_is_valid_against_its_profile(hapi_url: str, path: Path) -> None:
    resource = _load(path)
    errors = _validate(hapi_url, resource, _etmi_profile(resource))
    assert errors == [], f"{path.name}: " + "\n".join(errors)


@pytest.mark.slow
@pytest.mark.parametrize("path", _questionnaires(), ids=lambda p: p.name)
def test_questionnaire_is_valid(hapi_url: str, path: Path) -> None:
    resource = _load(path)
    errors = _validate(hapi_url, resource, _etmi_profile(resource))
    assert errors == [], f"{path.name}: " + "\n".join(errors)


def test_package_is_installed(hapi_url: str) -> None:
    _need_package()
    manifest = _load(PACKAGE / "package.json")
    r = requests.get(f"{hapi_url}/StructureDefinition", params={"url": PAIN_PROFILE},
                     headers=FHIR_JSON, timeout=TIMEOUT)
    assert r.status_code == 200
    assert len(r.json().get("entry", [])) == 1, f"{manifest['name']} not installed: see tests/servers/hapi/.hapi.log"
    for path in _questionnaires():
        url = _load(path)["url"]
        found = requests.get(f"{hapi_url}/Questionnaire", params={"url": url}, headers=FHIR_JSON, timeout=TIMEOUT)
        assert len(found.json().get("entry", [])) >= 1, f"Questionnaire {url} not stored"


def test_pain_value_out_of_range_fails(hapi_url: str) -> None:
    _need_package()
    broken = copy.deepcopy(_pain_example())
    broken["valueQuantity"]["value"] = 11
    errors = _validate(hapi_url, broken, PAIN_PROFILE)
    assert errors, "pain 11 on a 0-10 scale validated without error"


def test_pain_wrong_unit_fails(hapi_url: str) -> None:
    _need_package()
    broken = copy.deepcopy(_pain_example())
    broken["valueQuantity"].update({"unit": "kg", "code": "kg"})
    errors = _validate(hapi_url, broken, PAIN_PROFILE)
    assert errors, "pain in kg validated without error"


def test_pain_example_is_valid(hapi_url: str) -> None:
    _need_package()
    assert _validate(hapi_url, _pain_example(), PAIN_PROFILE) == []


def test_etmi_valueset_expands(hapi_url: str) -> None:
    _need_package()
    valuesets = sorted(PACKAGE.glob("ValueSet-*.json"))
    assert valuesets, "no ValueSet in profiles/package"
    for path in valuesets:
        url = _load(path)["url"]
        r = requests.get(f"{hapi_url}/ValueSet/$expand", params={"url": url}, headers=FHIR_JSON, timeout=TIMEOUT)
        assert r.status_code == 200, f"{url}: {r.text[:500]}"
        assert r.json()["expansion"].get("contains"), f"{url} expanded to nothing"


def _qr_example() -> dict[str, Any]:
    for path in _examples():
        resource = _load(path)
        if resource["resourceType"] == "QuestionnaireResponse":
            return resource
    pytest.fail("no QuestionnaireResponse example in profiles/package/example")


def test_questionnaire_response_is_checked_against_its_questionnaire(hapi_url: str) -> None:
    """HAPI resolves QuestionnaireResponse.questionnaire among the stored Questionnaires."""
    _need_package()
    broken = copy.deepcopy(_qr_example())
    broken["item"].append({"linkId": "no-such-item", "answer": [{"valueInteger": 3}]})
    errors = _validate(hapi_url, broken, _etmi_profile(broken))
    assert any("no-such-item" in e for e in errors), errors


def test_questionnaire_response_answer_out_of_range_fails(hapi_url: str) -> None:
    _need_package()
    broken = copy.deepcopy(_qr_example())
    pain = [item for item in broken["item"] if item["linkId"] == "pain.nrs"]
    if not pain:
        pytest.fail("the QuestionnaireResponse example has no pain.nrs item")
    pain[0]["answer"] = [{"valueInteger": 11}]
    errors = _validate(hapi_url, broken, _etmi_profile(broken))
    assert any("maximum" in e for e in errors), errors
