"""Every code the mappings ship is verified ([A]/[B] in docs/clinical-content.md) or our own.

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
    (c.SNOMED, "279039007"): "[B] low back pain (domain reference; a SNOMED CT $lookup probe; relationship table)",
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


def shipped_resources() -> list[dict[str, Any]]:
    """Every resource the mappings write for the example, 20 synthetic episodes and each score kind,
    plus the Questionnaires."""
    questionnaires = load_package().questionnaires()
    example = json.loads((ROOT / "examples" / "episode.json").read_text())
    payloads = [example] + [synthetic_episode(i) for i in range(20)]
    out = [r for p in payloads for r in episode_resources(episode_from_json(p), questionnaires)]
    episode = episode_from_json(example)
    for kind in OBSERVATION_KINDS.values():
        for value in (c.TTM_STAGES if kind.unit is None else (kind.high,)):
            score = OutcomeScore(f"{kind.key}-{value}", kind.key, value, "2026-01-05T09:00:00+02:00")
            out.append(score_to_observation(score, episode))
    return out + list(questionnaires.values())


def shipped_codings() -> list[dict[str, Any]]:
    return [cd for r in shipped_resources() for cd in codings(r)]


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
                problems.add(f"{system}#{code}: not tagged [A]/[B] in docs/clinical-content.md")
        elif system not in HL7_SYSTEMS and not system.startswith("urn:oid:"):
            problems.add(f"{system}#{code}: unknown code system")
    assert not problems, sorted(problems)


def test_ucum_units_are_the_exact_ones_of_the_domain_reference() -> None:
    units = {cd["code"] for cd in shipped_codings() if cd["system"] == c.UCUM}
    assert units <= {"{score}", "d/wk", "min/d", "min/wk", "min"}, units


def test_displays_of_our_codes_match_our_code_systems() -> None:
    """A display that differs from the CodeSystem makes HAPI warn on every resource. Questionnaire answer
    options (and the answers that copy them) may show a designation: the patient-facing sentence."""
    code_systems = load_package().resources("CodeSystem")
    display = {cs["url"]: {k["code"]: k["display"] for k in cs.get("concept", [])} for cs in code_systems}
    designations = {cs["url"]: {k["code"]: {d["value"] for d in k.get("designation", [])}
                                for k in cs.get("concept", [])} for cs in code_systems}
    wrong = set()
    for resource in shipped_resources():
        patient_facing = resource["resourceType"] in ("Questionnaire", "QuestionnaireResponse")
        for cd in codings(resource):
            system, code = cd["system"], cd["code"]
            if system not in display or "display" not in cd or display[system].get(code) == cd["display"]:
                continue
            if not (patient_facing and cd["display"] in designations[system].get(code, set())):
                wrong.add(f"{resource['resourceType']}: {system}#{code}: {cd['display']!r}")
    assert not wrong, sorted(wrong)


def test_stage_of_change_displays_are_stage_names_and_sentences_stay_on_the_answer_options() -> None:
    [stages] = [cs for cs in load_package().resources("CodeSystem") if cs["url"] == c.ETMI_CS_TTM_STAGE]
    assert {k["code"]: k["display"] for k in stages["concept"]} == {
        "precontemplation": "Precontemplation", "contemplation": "Contemplation", "preparation": "Preparation",
        "action": "Action", "maintenance": "Maintenance", "relapse": "Relapse"}
    stage_displays = {cd["display"] for r in shipped_resources() if r["resourceType"] == "Observation"
                      for cd in codings(r.get("valueCodeableConcept", {})) if cd["system"] == c.ETMI_CS_TTM_STAGE}
    assert stage_displays == set(c.TTM_STAGE_NAMES.values())
    intake = load_package().questionnaires()["intake"]
    [item] = [i for i in intake["item"] if i["linkId"] == "ttm.stage"]
    options = {o["valueCoding"]["code"]: o["valueCoding"]["display"] for o in item["answerOption"]}
    assert options["maintenance"] == "Yes, I have been for MORE than 6 months."
    assert options["precontemplation"] == "No, and I do NOT intend to in the next 6 months."


def test_stage_matched_counselling_is_coded_as_counselling_not_as_the_staging() -> None:
    written = [r for r in shipped_resources() if r["resourceType"] in ("CarePlan", "Procedure")]
    codes = {(cd["system"], cd["code"]) for r in written for cd in codings(r)}
    assert (c.SNOMED, "710849009") not in codes
    assert (c.ETMI_CS_INTERVENTION, c.INTERVENTION_STAGE_MATCHED) in codes
