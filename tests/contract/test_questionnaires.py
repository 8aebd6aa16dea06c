"""The three ETMI Questionnaires: the linkIds of docs/clinical-content.md, item codes from verified
LOINC ([A]/[B] in that document) or the project's CodeSystems, the SDC observation-extraction pattern
consistent with the Observation profiles (code, UCUM unit, range, category), the FABQ work items asked
only of people who work, and calculated totals that are empty unless every item is answered."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.models import models

from mappings import canonical as c
from mappings.scoring import RULES
from tests.contract.ig import EXAMPLES as EXAMPLE_DIR
from tests.contract.ig import ROOT, Resource, artifacts, by_url, codesystem_codes, extensions, load, walk_items

WORK = [f"fabq.w{n}" for n in range(6, 17)]
FABQ = [f"fabq.pa{n}" for n in range(1, 6)] + ["work.employed", *WORK, "fabq.pa_score", "fabq.w_score"]
EVS = ["evs.days", "evs.minutes", "evs.min_week", "evs.strength_days"]
LINK_IDS = {
    c.ETMI_Q_INTAKE: {
        "lbp.duration", "pain.nrs", "function.score", *FABQ, "fab.score100", *EVS, "ttm.stage", "pa.preferences",
        "beliefs.prognosis", "phq2.q1", "phq2.q2", "phq2.total", "gad2.q1", "gad2.q2", "gad2.total", "comorb.dx",
    },
    c.ETMI_Q_SESSION: {
        "session.number", "session.etmi_delivered", "session.components", "session.walk_minutes",
        "session.pain_nrs", "session.goal_minutes_week",
    },
    c.ETMI_Q_OUTCOME: {
        "pain.nrs", "function.score", *FABQ, "fab.score100", *EVS, "ttm.stage", "gpe", "goal.achieved",
        "episode.sessions_total",
    },
}
#: LOINC codes tagged [A] or [B] in docs/clinical-content.md that the Questionnaires may use.
VERIFIED_LOINC = {
    "72514-3", "89555-7", "68516-4", "82290-8", "82291-6", "55411-3", "73985-4",
    "44250-9", "44255-8", "55758-7", "69725-0", "68509-9",
}
CLINICAL_DOC = ROOT / "docs" / "clinical-content.md"
ITEM_TYPES = {
    "integer": {"pain.nrs", *EVS, "fabq.pa_score", "fabq.w_score", "phq2.total", "gad2.total", "session.number",
                "session.walk_minutes", "session.pain_nrs", "session.goal_minutes_week", "episode.sessions_total",
                "beliefs.prognosis"},
    "decimal": {"function.score", "fab.score100"},
    "boolean": {"session.etmi_delivered", "work.employed"},
    "open-choice": {"pa.preferences", "comorb.dx"},
}
CPRC = {
    "maintenance": "Yes, I have been for MORE than 6 months.",
    "action": "Yes, I have been for LESS than 6 months.",
    "preparation": "No, but I intend to in the next 30 days.",
    "contemplation": "No, but I intend to in the next 6 months.",
    "precontemplation": "No, and I do NOT intend to in the next 6 months.",
}
QUESTIONNAIRES = sorted(LINK_IDS)


def items(url: str) -> dict[str, Resource]:
    q = by_url()[url]
    return {i["linkId"]: i for i in walk_items(q["item"]) if i["type"] != "group"}


def observation_profiles() -> dict[tuple[str, str], Resource]:
    """(system, code) of each Observation profile's fixed code -> the profile."""
    found = {}
    for sd in artifacts():
        if sd["resourceType"] == "StructureDefinition" and sd["type"] == "Observation":
            code = next(e for e in sd["differential"]["element"] if e["id"] == "Observation.code")
            coding = code["patternCodeableConcept"]["coding"][0]
            found[(coding["system"], coding["code"])] = sd
    return found


@pytest.mark.parametrize("url", QUESTIONNAIRES)
def test_metadata_and_link_ids(url: str) -> None:
    q = by_url()[url]
    assert (q["version"], q["status"]) == (c.QUESTIONNAIRE_VERSION, "active")
    assert q["name"] and c.ETMI_SD_QUESTIONNAIRE in q["meta"]["profile"]
    assert set(items(url)) == LINK_IDS[url]
    all_ids = [i["linkId"] for i in walk_items(q["item"])]
    assert len(all_ids) == len(set(all_ids))


@pytest.mark.parametrize("url", QUESTIONNAIRES)
def test_item_types(url: str) -> None:
    for link_id, item in items(url).items():
        expected = next((t for t, ids in ITEM_TYPES.items() if link_id in ids), "choice")
        assert item["type"] == expected, link_id


@pytest.mark.parametrize("url", QUESTIONNAIRES)
def test_item_codes_are_verified_loinc_or_local(url: str) -> None:
    local = {cs["url"]: codesystem_codes(cs["url"]) for cs in artifacts() if cs["resourceType"] == "CodeSystem"}
    for link_id, item in items(url).items():
        for coding in item.get("code", []):
            if coding["system"] == c.LOINC:
                assert coding["code"] in VERIFIED_LOINC, (link_id, coding)
            else:
                assert coding["code"] in local.get(coding["system"], set()), (link_id, coding)


def test_verified_loinc_list_matches_the_clinical_content_doc() -> None:
    rows = [line for line in CLINICAL_DOC.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    for code in VERIFIED_LOINC:
        tagged = [r for r in rows if re.search(rf"\b{re.escape(code)}\b", r) and re.search(r"\[[AB]\]", r)]
        assert tagged and not any("UNVERIFIED" in r for r in tagged), code


def check_extract_item(link_id: str, item: Resource, profiles: dict[tuple[str, str], Resource]) -> None:
    assert [e["valueBoolean"] for e in extensions(item, c.EXT_OBSERVATION_EXTRACT)] == [True], link_id
    coding = item["code"][0]
    sd = profiles[(coding["system"], coding["code"])]
    categories = [e["valueCodeableConcept"]["coding"][0] for e in extensions(item, c.EXT_OBSERVATION_EXTRACT_CATEGORY)]
    slices = [e["patternCodeableConcept"]["coding"][0] for e in sd["differential"]["element"]
              if e["path"] == "Observation.category" and "sliceName" in e]
    assert sorted((x["system"], x["code"]) for x in categories) == sorted((x["system"], x["code"]) for x in slices)
    unit = next((e for e in sd["differential"]["element"] if e["id"] == "Observation.value[x].code"), None)
    if unit is None:  # coded value (stage of change)
        return
    units = [e["valueCoding"] for e in extensions(item, c.EXT_QUESTIONNAIRE_UNIT)]
    assert [(u["system"], u["code"]) for u in units] == [(c.UCUM, unit["patternCode"])], link_id
    low = extensions(item, c.EXT_MIN_VALUE)[0]
    high = extensions(item, c.EXT_MAX_VALUE)[0]
    bounds = (low.get("valueInteger", low.get("valueDecimal")), high.get("valueInteger", high.get("valueDecimal")))
    invariants = [x["expression"] for x in sd["snapshot"]["element"][0]["constraint"] if x.get("source") == sd["url"]]
    expected = f"(value as Quantity).value >= {bounds[0]} and (value as Quantity).value <= {bounds[1]}"
    assert expected in invariants, link_id


@pytest.mark.parametrize("url", QUESTIONNAIRES)
def test_extracted_items_match_observation_profiles(url: str) -> None:
    profiles = observation_profiles()
    extracted = {k: v for k, v in items(url).items() if extensions(v, c.EXT_OBSERVATION_EXTRACT)}
    for link_id, item in extracted.items():
        check_extract_item(link_id, item, profiles)
    # Every item whose code has an Observation profile is extracted.
    for link_id, item in items(url).items():
        codes = {(x["system"], x["code"]) for x in item.get("code", [])}
        if codes & set(profiles) and link_id != "session.goal_minutes_week":
            assert link_id in extracted, link_id


@pytest.mark.parametrize("url", QUESTIONNAIRES)
def test_scored_choices_carry_ordinal_values(url: str) -> None:
    for link_id, item in items(url).items():
        if not re.match(r"fabq\.(pa|w)\d+$|(phq2|gad2)\.q\d$", link_id):
            continue
        ordinals = [extensions(o["valueCoding"], c.EXT_ORDINAL_VALUE)[0]["valueDecimal"] for o in item["answerOption"]]
        assert ordinals == list(range(7 if link_id.startswith("fabq") else 4)), link_id


@pytest.mark.parametrize("url", QUESTIONNAIRES)
def test_calculated_items_are_read_only_fhirpath(url: str) -> None:
    for link_id, item in items(url).items():
        calculated = extensions(item, c.EXT_CALCULATED_EXPRESSION)
        if link_id.endswith(("_score", ".total", ".min_week")):
            assert calculated and item.get("readOnly") is True, link_id
        for ext in calculated:
            assert ext["valueExpression"]["language"] == "text/fhirpath", link_id


def calculate(url: str, link_id: str, response: Resource) -> list[Any]:
    expression = extensions(items(url)[link_id], c.EXT_CALCULATED_EXPRESSION)[0]["valueExpression"]["expression"]
    result: list[Any] = fhirpathpy.evaluate(response, expression, {"resource": response}, models["r4"])
    return result


def answer(link_id: str, value: Resource) -> Resource:
    return {"linkId": link_id, "answer": [value]}


def fabq_answer(score: int) -> Resource:
    return {"valueCoding": {"system": c.ETMI_CS_FABQ_ANSWER, "code": str(score)}}


def test_calculated_expressions_compute_totals() -> None:
    example = load(Path(EXAMPLE_DIR / "QuestionnaireResponse-example-qr-intake.json"))
    assert calculate(c.ETMI_Q_INTAKE, "evs.min_week", example) == [40]
    assert calculate(c.ETMI_Q_INTAKE, "phq2.total", example) == [1]
    fabq = [answer(f"fabq.pa{n}", fabq_answer(n)) for n in range(1, 6)]
    work = [answer(f"fabq.w{n}", fabq_answer(6)) for n in range(6, 17)]
    response = {"resourceType": "QuestionnaireResponse", "status": "completed", "item": fabq + work}
    assert calculate(c.ETMI_Q_INTAKE, "fabq.pa_score", response) == [2 + 3 + 4 + 5]
    assert calculate(c.ETMI_Q_INTAKE, "fabq.w_score", response) == [42]
    gad = [answer(f"gad2.q{n}", {"valueCoding": {"system": c.LOINC, "code": "LA6571-9"}}) for n in (1, 2)]
    assert calculate(c.ETMI_Q_INTAKE, "gad2.total", {"resourceType": "QuestionnaireResponse", "item": gad}) == [6]


def highest_answer(item: Resource) -> tuple[Resource, float]:
    """The answer with the highest score an item allows (its last option, or its maxValue)."""
    if item["type"] == "choice":
        option = item["answerOption"][-1]["valueCoding"]
        coding = {k: v for k, v in option.items() if k != "extension"}
        return {"valueCoding": coding}, extensions(option, c.EXT_ORDINAL_VALUE)[0]["valueDecimal"]
    high = extensions(item, c.EXT_MAX_VALUE)[0]["valueInteger"]
    return {"valueInteger": high}, high


CALCULATED = [(c.ETMI_Q_INTAKE, total) for total in sorted(RULES)] + [
    (c.ETMI_Q_OUTCOME, total) for total in ("evs.min_week", "fabq.pa_score", "fabq.w_score")]


@pytest.mark.parametrize("url,total", CALCULATED)
def test_calculated_totals_are_empty_unless_every_item_is_answered(url: str, total: str) -> None:
    """Every subset of a total's items: a partial subset gives no total (not the sum of what was
    answered), the full set gives the rule's value."""
    assert {t for u, t in CALCULATED if u == url} == {t for t in RULES if t in items(url)}
    op, inputs = RULES[total]
    expression = extensions(items(url)[total], c.EXT_CALCULATED_EXPRESSION)[0]["valueExpression"]["expression"]
    compiled = fhirpathpy.compile(expression, models["r4"])
    scored = {link: highest_answer(items(url)[link]) for link in inputs}
    employed = [answer("work.employed", {"valueBoolean": True})]
    for size in range(len(inputs) + 1):
        for chosen in itertools.combinations(inputs, size):
            response = {"resourceType": "QuestionnaireResponse", "status": "in-progress",
                        "item": employed + [answer(link, scored[link][0]) for link in chosen]}
            result = compiled(response, {"resource": response})
            if size < len(inputs):
                assert result == [], (total, chosen, result)
            else:
                values = [scored[link][1] for link in inputs]
                assert result == [sum(values) if op == "sum" else values[0] * values[1]], total


@pytest.mark.parametrize("url", [c.ETMI_Q_INTAKE, c.ETMI_Q_OUTCOME])
def test_work_items_are_asked_only_of_people_who_work(url: str) -> None:
    found = items(url)
    links = list(found)
    assert links.index("work.employed") < links.index("fabq.w6")
    assert found["work.employed"]["type"] == "boolean" and "code" not in found["work.employed"]
    asked_if_employed = [{"question": "work.employed", "operator": "=", "answerBoolean": True}]
    for link, item in found.items():
        if link in (*WORK, "fabq.w_score"):
            assert item.get("enableWhen") == asked_if_employed, link
        else:
            assert "enableWhen" not in item, link


@pytest.mark.parametrize("url", [c.ETMI_Q_INTAKE, c.ETMI_Q_OUTCOME])
def test_stage_of_change_answers_are_the_cprc_options(url: str) -> None:
    options = {o["valueCoding"]["code"]: o["valueCoding"] for o in items(url)["ttm.stage"]["answerOption"]}
    assert {code: coding["display"] for code, coding in options.items()} == CPRC
    assert all(coding["system"] == c.ETMI_CS_TTM_STAGE for coding in options.values())
