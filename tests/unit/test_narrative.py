"""Generated narratives (mappings/narrative.py): every resource the service sends has one, it is valid
XHTML by the FHIR narrative rules (txt-1, txt-2) and it shows the resource's key values."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from mappings.narrative import XHTML, narrative, with_narrative
from service.validation.natives import ALLOWED_HTML

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((ROOT / "tests" / "golden" / "expected").glob("*.bundle.json"))


def resources() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{path.stem}[{i}]:{e['resource']['resourceType']}", e["resource"])
            for path in GOLDEN for i, e in enumerate(json.loads(path.read_text())["entry"])]


RESOURCES = resources()


def text_of(div: str) -> str:
    return "".join(ET.fromstring(div).itertext())


@pytest.mark.parametrize("resource", [r for _, r in RESOURCES], ids=[n for n, _ in RESOURCES])
def test_every_golden_resource_has_a_valid_generated_narrative(resource: dict[str, Any]) -> None:
    text = resource["text"]
    assert text["status"] == "generated"
    root = ET.fromstring(text["div"])
    assert root.tag == f"{{{XHTML}}}div"
    for node in root.iter():
        assert node.tag.startswith(f"{{{XHTML}}}") and node.tag.split("}")[1] in ALLOWED_HTML
        assert not node.attrib
    assert text_of(text["div"]).strip()


def test_every_golden_bundle_has_narratives_on_all_resources() -> None:
    assert len(GOLDEN) >= 5 and len(RESOURCES) > 100
    assert all("text" in r for _, r in RESOURCES)


@pytest.mark.parametrize("resource", [r for _, r in RESOURCES if r["resourceType"] == "Observation"],
                         ids=[n for n, r in RESOURCES if r["resourceType"] == "Observation"])
def test_observation_narrative_shows_value_unit_and_code(resource: dict[str, Any]) -> None:
    shown = text_of(resource["text"]["div"])
    if "valueQuantity" in resource:
        q = resource["valueQuantity"]
        assert f"{q['value']} {q['unit']}" in shown
    else:
        assert resource["valueCodeableConcept"]["coding"][0]["display"] in shown
    assert resource["code"]["coding"][0]["display"] in shown
    assert resource["effectiveDateTime"] in shown


def test_goal_procedure_questionnaire_response_show_their_values() -> None:
    by_type = {r["resourceType"]: r for name, r in RESOURCES if name.startswith("episode.")}
    goal = text_of(by_type["Goal"]["text"]["div"])
    assert "Brisk walking 150 minutes per week" in goal and "150 min/wk by 2026-03-01" in goal and "Achieved" in goal
    for proc in (r for _, r in RESOURCES if r["resourceType"] == "Procedure"):
        shown = text_of(proc["text"]["div"])
        number = next(e["valuePositiveInt"] for e in proc["extension"] if "valuePositiveInt" in e)
        assert f"Session: {number}" in shown and proc["performedDateTime"] in shown
        for ext in proc["extension"]:
            if "valueCodeableConcept" in ext:
                assert ext["valueCodeableConcept"]["coding"][0]["display"] in shown
    qr = by_type["QuestionnaireResponse"]
    shown = text_of(qr["text"]["div"])
    for item in qr["item"]:
        for answer in item.get("answer", []):
            value = next(v for k, v in answer.items() if k.startswith("value"))
            assert str(value.get("display") if isinstance(value, dict) else value) in shown, item["linkId"]
    patient = text_of(by_type["Patient"]["text"]["div"])
    assert by_type["Patient"]["identifier"][0]["value"] in patient


def test_text_is_escaped_and_an_existing_narrative_is_kept() -> None:
    hostile = {"resourceType": "Observation", "status": "final", "code": {"text": "<script>alert(1)</script> & co"},
               "valueString": "<b onclick='x'>"}
    div = narrative(hostile)["div"]
    tags = {node.tag.split("}")[1] for node in ET.fromstring(div).iter()}
    assert tags == {"div", "p", "b", "ul", "li"} and not any(node.attrib for node in ET.fromstring(div).iter())
    assert "<script>alert(1)</script> & co" in text_of(div) and "<b onclick='x'>" in text_of(div)
    own = {"resourceType": "CarePlan", "text": {"status": "generated", "div": f'<div xmlns="{XHTML}">mine</div>'}}
    assert with_narrative(own) is own


def test_text_follows_meta_in_element_order() -> None:
    out = with_narrative({"resourceType": "Goal", "meta": {"profile": ["x"]}, "lifecycleStatus": "active",
                          "description": {"text": "walk"}})
    assert list(out)[:3] == ["resourceType", "meta", "text"]
    assert list(with_narrative({"resourceType": "Patient", "id": "p", "identifier": []}))[:3] == [
        "resourceType", "id", "text"]


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_etmi_fhir_validate_gives_no_dom6_nor_narrative_issue(path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "service.cli", "validate", str(path)], capture_output=True,
                         text=True, check=False, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    issues = [i for line in run.stdout.splitlines() for i in json.loads(line)["issue"]]
    assert not [i for i in issues if any(rule in i.get("diagnostics", "") for rule in ("dom-6", "txt-1", "txt-2"))]
    assert [i["severity"] for i in issues] == ["information"]


def test_the_provenance_of_a_push_has_a_narrative_and_no_dom6() -> None:
    from datetime import UTC, datetime

    from service.sync.provenance import provenance
    from service.validation import validate

    refs = [f"urn:uuid:{n}" for n in ("8c9f1f3e-0d3a-4a53-9d4e-1a2b3c4d5e6f", "9d0a2a4f-1e4b-4b64-8e5f-2b3c4d5e6f70",
                                         "ae1b3b50-2f5c-4c75-9f60-3c4d5e6f7081")]
    resource = provenance(refs[:2], refs[2:], datetime(2026, 1, 5, tzinfo=UTC), "p1")
    shown = text_of(resource["text"]["div"])
    assert "Recorded: 2026-01-05T00:00:00+00:00" in shown and "Resources: 2" in shown and "Assembler" in shown
    issues = validate(resource)["issue"]
    assert not [i for i in issues if "dom-6" in i.get("diagnostics", "") or i["severity"] in ("error", "fatal")]
