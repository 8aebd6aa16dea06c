"""Every resource the mappings produce conforms to base R4 and to the ETMI profile it claims.

Checked with the project's own validator (service.validation); tests/integration/test_oracle_golden.py
checks the same resources with HAPI's validator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mappings.bundle import episode_resources
from mappings.payload import episode_from_json
from service.ig import load_package
from service.validation import validate

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([ROOT / "examples" / "episode.json", *(ROOT / "tests" / "golden" / "input").glob("*.json")])


def golden_resources() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for source in SOURCES:
        episode = episode_from_json(json.loads(source.read_text()))
        for resource in episode_resources(episode, load_package().questionnaires()):
            ident = resource["identifier"]
            value = (ident if isinstance(ident, dict) else ident[0])["value"]
            out.append((f"{source.stem}:{resource['resourceType']}:{value}", resource))
    return out


RESOURCES = golden_resources()


@pytest.mark.parametrize("resource", [r for _, r in RESOURCES], ids=[name for name, _ in RESOURCES])
def test_mapped_resource_is_valid(resource: dict[str, Any]) -> None:
    errors = [i for i in validate(resource)["issue"] if i["severity"] in ("error", "fatal")]
    assert not errors, json.dumps(errors, indent=1)


def test_every_profile_is_exercised() -> None:
    claimed = {p for _, r in RESOURCES for p in r.get("meta", {}).get("profile", [])}
    profiles = {sd["url"] for sd in load_package().resources("StructureDefinition")
                if sd.get("type") != "Extension" and sd["url"].split("/")[-1] not in {"etmi-questionnaire"}}
    assert profiles - claimed == set(), "profiles no golden case produces"
