"""Every code the mappings ship is verified ([A]/[B] in shared/docs/etmi-domain.md) or our own.

The allow-list below copies each external code with its tag and source from the domain reference;
adding a code here means checking it there first. Codes of the project's CodeSystems must exist in
the CodeSystem resource of profiles/package.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mappings import canonical as c
from mappings.bundle import episode_resources
from mappings.domain import OutcomeScore
from mappings.outcome import OBSERVATION_KINDS, score_to_observation
from mappings.payload import episode_from_json
from service.ig import load_package
from service.synthetic import synthetic_episode

ROOT = Path(__file__).resolve().parents[2]

VERIFIED: dict[tuple[str, str], str] = {
    (c.LOINC, "72514-3"): "[A] VSAC Standardized Pain Assessment Tool",
    (c.LOINC, "89555-7"): "[A] PA-IG", (c.LOINC, "68516-4"): "[A] PA-IG", (c.LOINC, "82290-8"): "[A] PA-IG",
    (c.LOINC, "82291-6"): "[A] PA-IG", (c.LOINC, "55758-7"): "[B] PHQ-2 total",
    (c.LOINC, "55411-3"): "[A] PA-IG exercise duration", (c.LOINC, "73985-4"): "[A] PA-IG exercise activity",
    (c.LOINC, "LA11834-1"): "[B] walking",
    (c.LOINC, "44250-9"): "[A] US Core PHQ-9", (c.LOINC, "44255-8"): "[A] US Core PHQ-9",
    (c.LOINC, "69725-0"): "[B] GAD item 1", (c.LOINC, "68509-9"): "[B] GAD item 2",
    (c.LOINC, "LA6568-5"): "[A]", (c.LOINC, "LA6569-3"): "[A]",
    (c.LOINC, "LA6570-1"): "[A]", (c.LOINC, "LA6571-9"): "[A]",
    (c.SNOMED, "278860009"): "[B] chronic low back pain", (c.SNOMED, "91251008"): "[A] physical therapy procedure",
    (c.SNOMED, "304558001"): "[A] reassuring about exercise", (c.SNOMED, "435551000124105"): "[A] PA counselling",
    (c.SNOMED, "710849009"): "[A] assessment of exercise behavior",
    (c.SNOMED, "35489007"): "[A] depressive disorder", (c.SNOMED, "197480006"): "[A] anxiety disorder",
}
HL7_SYSTEMS = {c.OBSERVATION_CATEGORY, c.GOAL_ACHIEVEMENT, c.CONDITION_CLINICAL, c.CONDITION_VER_STATUS,
               c.CONDITION_CATEGORY, c.US_CORE_CAREPLAN_CATEGORY, c.PA_TEMPORARY_CODES, c.UCUM}


def codings(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if "system" in value and "code" in value:
            yield value
        for v in value.values():
            yield from codings(v)
    elif isinstance(value, list):
        for v in value:
            yield from codings(v)


def shipped_codings() -> list[dict[str, Any]]:
    questionnaires = load_package().questionnaires()
    example = json.loads((ROOT / "examples" / "episode.json").read_text())
    payloads = [example] + [synthetic_episode(i) for i in range(20)]
    out = [cd for p in payloads for r in episode_resources(episode_from_json(p), questionnaires) for cd in codings(r)]
    episode = episode_from_json(example)
    for kind in OBSERVATION_KINDS.values():
        for value in (c.TTM_STAGES if kind.unit is None else (kind.high,)):
            score = OutcomeScore(f"{kind.key}-{value}", kind.key, value, "2026-01-05T09:00:00+02:00")
            out += codings(score_to_observation(score, episode))
    return out + [cd for q in questionnaires.values() for cd in codings(q)]


def test_every_shipped_code_is_verified_or_local() -> None:
    local = {cs["url"]: {concept["code"] for concept in cs.get("concept", [])}
             for cs in load_package().resources("CodeSystem")}
    problems = set()
    for cd in shipped_codings():
        system, code = cd["system"], cd["code"]
        if system in local:
            if code not in local[system]:
                problems.add(f"{system}#{code}: not in our CodeSystem")
        elif system in (c.LOINC, c.SNOMED):
            if (system, code) not in VERIFIED:
                problems.add(f"{system}#{code}: not tagged [A]/[B] in etmi-domain.md")
        elif system not in HL7_SYSTEMS and not system.startswith("urn:oid:"):
            problems.add(f"{system}#{code}: unknown code system")
    assert not problems, sorted(problems)


def test_ucum_units_are_the_exact_ones_of_the_domain_reference() -> None:
    units = {cd["code"] for cd in shipped_codings() if cd["system"] == c.UCUM}
    assert units <= {"{score}", "d/wk", "min/d", "min/wk", "min"}, units


def test_displays_of_our_codes_match_our_code_systems() -> None:
    """A display that differs from the CodeSystem makes HAPI warn on every resource."""
    local = {cs["url"]: {concept["code"]: concept["display"] for concept in cs.get("concept", [])}
             for cs in load_package().resources("CodeSystem")}
    wrong = {f"{cd['system']}#{cd['code']}: {cd['display']!r}" for cd in shipped_codings()
             if cd["system"] in local and "display" in cd and local[cd["system"]].get(cd["code"]) != cd["display"]}
    assert not wrong, sorted(wrong)
