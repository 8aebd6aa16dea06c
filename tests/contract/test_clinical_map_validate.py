"""Issue 10 items 3, 4, 5, 7 and 8, through the two commands a user runs: ``etmi-fhir map`` then
``etmi-fhir validate`` (the project's validator, every entry against R4 and its claimed profile).

- 3: the low back pain Condition follows the intake's lbp.duration (chronic only at 3 months or more;
  shorter: 279039007 and a warning in the OperationOutcome on stderr).
- 4: stage-matched counselling is coded as counselling (etmi-intervention), never 710849009.
- 5: stage-of-change Observations show the stage names; the answer keeps the CPRC sentence.
- 7: the session log's agreed target reaches Goal.target; episode.sessions_total is computed.
- 8: comorbid depression/anxiety answered at intake become Conditions with evidence -> the response.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from mappings import canonical as c
from service import cli
from service.synthetic import synthetic_episode

Json = dict[str, Any]
BASE = synthetic_episode(5)  # 4 sessions, depression and anxiety known at intake, targets raised in a session


def map_and_validate(payload: Json, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Json, Json | None]:
    """(the Bundle, the OperationOutcome ``map`` wrote on stderr or None); fails unless both commands pass."""
    source, target = tmp_path / "episode.json", tmp_path / "bundle.json"
    source.write_text(json.dumps(payload))
    code = cli.main(["map", str(source)])
    mapped = capsys.readouterr()
    assert code == 0, mapped.err
    target.write_text(mapped.out)
    code = cli.main(["validate", str(target)])
    [line] = capsys.readouterr().out.splitlines()
    errors = [i for i in orjson.loads(line)["issue"] if i["severity"] in ("error", "fatal")]
    assert (code, errors) == (0, [])
    return json.loads(mapped.out), (json.loads(mapped.err) if mapped.err.strip() else None)


def resources(bundle: Json, rtype: str) -> list[Json]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def codes(value: Any) -> set[tuple[str, str]]:
    if isinstance(value, dict):
        own = {(value["system"], value["code"])} if "system" in value and "code" in value else set()
        return own.union(*(codes(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(codes(v) for v in value))
    return set()


def with_intake(**answers: Any) -> Json:
    payload = copy.deepcopy(BASE)
    intake = payload["responses"][0]["answers"]
    for key, value in answers.items():
        if value is None:
            intake.pop(key, None)
        else:
            intake[key] = value
    return payload


def lbp(bundle: Json) -> Json:
    [condition] = [r for r in resources(bundle, "Condition") if r["meta"]["profile"] == [c.ETMI_SD_CONDITION_CLBP]]
    return condition


def test_a_chronic_episode_is_chronic_low_back_pain_without_a_warning(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    bundle, outcome = map_and_validate(BASE, tmp_path, capsys)
    assert lbp(bundle)["code"]["coding"] == [{"system": c.SNOMED, "code": "278860009",
                                              "display": "Chronic low back pain (finding)"}]
    assert not [i for i in (outcome or {}).get("issue", []) if i["severity"] == "warning"]


@pytest.mark.parametrize("duration", ["lt-6wk", "6-12wk"])
def test_a_shorter_episode_is_low_back_pain_with_a_warning(duration: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bundle, outcome = map_and_validate(with_intake(**{"lbp.duration": duration}), tmp_path, capsys)
    assert lbp(bundle)["code"]["coding"] == [{"system": c.SNOMED, "code": "279039007",
                                              "display": "Low back pain (finding)"}]
    assert outcome is not None
    [warning] = [i for i in outcome["issue"] if i["severity"] == "warning"]
    assert warning["expression"] == ["responses[0].answers.lbp.duration"] and duration in warning["diagnostics"]


def test_an_unknown_duration_is_not_called_chronic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle, outcome = map_and_validate(with_intake(**{"lbp.duration": None}), tmp_path, capsys)
    assert codes(lbp(bundle)["code"]) == {(c.SNOMED, "279039007")}
    assert outcome is not None and any(i["severity"] == "information" for i in outcome["issue"])


def test_the_condition_is_a_conditional_update_so_a_later_intake_changes_it(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bundle, _ = map_and_validate(BASE, tmp_path, capsys)
    requests = {e["request"]["method"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"}
    assert requests == {"PUT"}


def test_stage_matched_counselling_is_counselling_not_the_staging(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bundle, _ = map_and_validate(BASE, tmp_path, capsys)
    written = codes(resources(bundle, "CarePlan")) | codes(resources(bundle, "Procedure"))
    assert (c.ETMI_CS_INTERVENTION, "stage-matched-counselling") in written
    assert (c.SNOMED, "710849009") not in codes(bundle)


def test_stage_of_change_observations_show_the_stage_names(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    payload = copy.deepcopy(BASE)
    payload["scores"].append({"score_id": "stage-api", "kind": "ttm-stage", "value": "relapse",
                              "effective": payload["responses"][0]["authored"]})
    bundle, _ = map_and_validate(payload, tmp_path, capsys)
    stages = [cd for o in resources(bundle, "Observation") for cd in o.get("valueCodeableConcept", {}).get("coding", [])
              if cd["system"] == c.ETMI_CS_TTM_STAGE]
    intake, discharge = (payload["responses"][i]["answers"]["ttm.stage"] for i in (0, -1))
    assert {(cd["code"], cd["display"]) for cd in stages} == {
        (intake, intake.capitalize()), (discharge, discharge.capitalize()), ("relapse", "Relapse")}
    answers = [a["valueCoding"] for qr in resources(bundle, "QuestionnaireResponse") for item in qr["item"]
               if item["linkId"] == "ttm.stage" for a in item["answer"]]
    assert all(a["display"].startswith(("Yes, I have", "No, ")) for a in answers), "the patient's sentence stays"


def test_the_latest_agreed_target_reaches_the_goal_and_sessions_total_is_computed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = copy.deepcopy(BASE)
    first = payload["goals"][0]["target_minutes_per_week"]
    logs = [r for r in payload["responses"] if r["questionnaire"] == "session"]
    logs[2]["answers"]["session.goal_minutes_week"] = first + 60  # raised at session 3...
    logs[3]["answers"]["session.goal_minutes_week"] = first + 30  # ...and eased at session 4: the latest wins
    bundle, outcome = map_and_validate(payload, tmp_path, capsys)
    [goal] = resources(bundle, "Goal")
    assert goal["target"][0]["detailQuantity"]["value"] == first + 30
    assert outcome is not None and any(i["expression"] == ["goals[0].target_minutes_per_week"]
                                       for i in outcome["issue"])
    [discharge] = [qr for qr in resources(bundle, "QuestionnaireResponse") if "etmi-outcome" in qr["questionnaire"]]
    [total] = [i for i in discharge["item"] if i["linkId"] == "episode.sessions_total"]
    assert total["answer"] == [{"valueInteger": len(BASE["sessions"])}]


def test_a_supplied_sessions_total_that_the_sessions_do_not_give_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = copy.deepcopy(BASE)
    payload["responses"][-1]["answers"]["episode.sessions_total"] = 9
    source = tmp_path / "episode.json"
    source.write_text(json.dumps(payload))
    assert cli.main(["map", str(source)]) == 1
    outcome = json.loads(capsys.readouterr().err)
    assert [i["expression"] for i in outcome["issue"]] == [[f"responses[{len(payload['responses']) - 1}]"
                                                            ".answers.episode.sessions_total"]]


def test_comorbid_diagnoses_become_conditions_with_the_response_as_evidence(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = with_intake(**{"comorb.dx": ["35489007", "197480006", "panic attacks (free text)"]})
    bundle, _ = map_and_validate(payload, tmp_path, capsys)
    comorbid = [r for r in resources(bundle, "Condition") if r["meta"]["profile"] == [c.ETMI_SD_CONDITION_COMORBIDITY]]
    assert sorted(codes(r["code"]) for r in comorbid) == [{(c.SNOMED, "197480006")}, {(c.SNOMED, "35489007")}]
    [intake] = [e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"
                and "etmi-intake" in e["resource"]["questionnaire"]]
    assert all(r["evidence"] == [{"detail": [{"reference": intake}]}] for r in comorbid)
    assert all(r["subject"] == lbp(bundle)["subject"] for r in comorbid)


def test_no_comorbidity_answer_no_comorbidity_condition(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle, _ = map_and_validate(with_intake(**{"comorb.dx": None}), tmp_path, capsys)
    assert [r["meta"]["profile"] for r in resources(bundle, "Condition")] == [[c.ETMI_SD_CONDITION_CLBP]]
