"""``mappings.scoring`` held to its rules, written against the survivors of its mutation run
(docs/mutation/scoring.md): the refusal texts and issue codes a client reads, the answered items' range
(minValue/maxValue, integer or decimal, open-ended), totals from grouped items and decimal scores, and a
total never kept from items that do not give it.

Scores (docs/clinical-content.md): FABQ items 0-6, PHQ/GAD answers 0-3 (LA6568-5, LA6569-3, LA6570-1,
LA6571-9), EVS minutes/week = days (0-7) x minutes (0-600).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mappings import canonical as c
from mappings.domain import AnswerValue
from mappings.scoring import complete_scores, flatten_items, item_range, item_score
from service.ig import load_package

INTAKE = load_package().questionnaires()["intake"]
NOT_AT_ALL, SEVERAL_DAYS, MORE_THAN_HALF = "LA6568-5", "LA6569-3", "LA6570-1"


def answers(**values: AnswerValue) -> dict[str, tuple[AnswerValue, ...]]:
    """``phq2_q1=...`` -> {"phq2.q1": (...,)}: linkIds with ``_`` for ``.``."""
    return {link.replace("_", ".", 1): (value,) for link, value in values.items()}


def only_issue(found: list[Any]) -> Any:
    assert len(found) == 1, found
    return found[0]


def bound(url: str, **value: Any) -> dict[str, Any]:
    return {"url": url, **value}


# -- refusals: code, text and path --------------------------------------------------------------------------------
def test_an_incomplete_total_is_refused_as_required_naming_every_missing_item_and_the_range() -> None:
    out, issues = complete_scores(answers(fabq_pa2="4", fabq_pa4="1", fabq_pa_score=9), INTAKE)
    issue = only_issue(issues)
    assert (issue.severity, issue.code, issue.expression) == ("error", "required", "answers.fabq.pa_score")
    assert issue.diagnostics == ("fabq.pa_score = 9 is refused: a total is kept only when all its items are answered; "
                                 "missing: fabq.pa3, fabq.pa5. The answered items allow 5-17.")
    assert "fabq.pa_score" not in out


def test_a_possible_incomplete_total_is_not_called_impossible_and_an_impossible_one_is() -> None:
    _, issues = complete_scores(answers(phq2_q1=MORE_THAN_HALF, phq2_total=5), INTAKE)
    assert only_issue(issues).diagnostics.endswith("missing: phq2.q2. The answered items allow 2-5.")
    _, issues = complete_scores(answers(phq2_q1=MORE_THAN_HALF, phq2_total=6), INTAKE)
    assert only_issue(issues).diagnostics.endswith("The answered items allow 2-5, so 6 is impossible.")


@pytest.mark.parametrize("given", [True, "six", "3"], ids=["bool", "word", "digits-as-text"])
def test_a_supplied_total_that_is_not_a_number_is_called_impossible(given: AnswerValue) -> None:
    """``True`` is not 1 and ``"3"`` is not 3: a total is a number (no TypeError comparing text with the range)."""
    _, issues = complete_scores(answers(phq2_q1=SEVERAL_DAYS, phq2_total=given), INTAKE)
    issue = only_issue(issues)
    assert issue.code == "required"
    assert issue.diagnostics.endswith(f"The answered items allow 1-4, so {given!r} is impossible.")


def test_evs_range_comes_from_the_items_min_and_max_values() -> None:
    """3 days answered, minutes missing: 0-600 minutes a day allow 0-1800 minutes a week."""
    _, issues = complete_scores(answers(evs_days=3, evs_min_week=2000), INTAKE)
    assert only_issue(issues).diagnostics.endswith(
        "missing: evs.minutes. The answered items allow 0-1800, so 2000 is impossible.")


def test_a_total_that_differs_from_its_items_is_a_business_rule_error_naming_the_rule() -> None:
    out, issues = complete_scores(answers(phq2_q1=SEVERAL_DAYS, phq2_q2=MORE_THAN_HALF, phq2_total=5), INTAKE)
    issue = only_issue(issues)
    assert (issue.severity, issue.code, issue.expression) == ("error", "business-rule", "answers.phq2.total")
    assert issue.diagnostics == "phq2.total is calculated as sum of phq2.q1, phq2.q2 = 3, but 5 was supplied"
    assert out["phq2.total"] == (3,)
    _, issues = complete_scores(answers(evs_days=3, evs_minutes=30, evs_min_week=100), INTAKE)
    assert only_issue(issues).diagnostics == \
        "evs.min_week is calculated as product of evs.days, evs.minutes = 90, but 100 was supplied"


# -- what is kept -------------------------------------------------------------------------------------------------
def test_an_answer_that_is_no_option_stops_neither_this_nor_the_other_totals_checks() -> None:
    """A FABQ answer outside the options (refused as code-invalid where it is rendered) leaves no FABQ-PA total,
    not even the supplied one; the PHQ-2 and GAD-2 after it are still computed and checked."""
    given = answers(fabq_pa2="seven", fabq_pa3="1", fabq_pa4="2", fabq_pa5="3", fabq_pa_score=6,
                    phq2_q1=SEVERAL_DAYS, phq2_q2=SEVERAL_DAYS, gad2_q1=NOT_AT_ALL, gad2_q2=NOT_AT_ALL, gad2_total=4)
    out, issues = complete_scores(given, INTAKE)
    assert "fabq.pa_score" not in out
    assert out["phq2.total"] == (2,)
    assert only_issue(issues).expression == "answers.gad2.total"


def test_a_total_of_an_item_not_enabled_is_dropped_even_when_supplied() -> None:
    """FABQ-W for a patient who does not work: no total, whatever was supplied (the answers themselves are
    refused by enablement)."""
    out, issues = complete_scores({**answers(fabq_w_score=12), "work.employed": (False,)}, INTAKE)
    assert "fabq.w_score" not in out and issues == []


def test_a_text_answer_to_a_number_item_gives_no_total_and_no_error_here() -> None:
    """``evs.days = "three"``: refused where the answer is rendered; scoring neither crashes nor computes."""
    assert item_score(flatten_items(INTAKE)["evs.days"], "three") is None
    out, issues = complete_scores(answers(evs_days="three", evs_minutes=30), INTAKE)
    assert "evs.min_week" not in out and issues == []


def test_decimal_scores_give_decimal_totals_and_whole_ones_integers() -> None:
    out, _ = complete_scores(answers(evs_days=3, evs_minutes=22.5), INTAKE)
    assert out["evs.min_week"] == (67.5,)
    out, _ = complete_scores(answers(evs_days=3, evs_minutes=30.0), INTAKE)
    assert out["evs.min_week"] == (90,) and isinstance(out["evs.min_week"][0], int)


def test_items_inside_groups_are_scored() -> None:
    grouped = {**INTAKE, "item": [{"linkId": "all", "type": "group", "item": copy.deepcopy(INTAKE["item"])}]}
    assert set(flatten_items(grouped)) == set(flatten_items(INTAKE)) | {"all"}
    out, issues = complete_scores(answers(phq2_q1=SEVERAL_DAYS, phq2_q2=NOT_AT_ALL, phq2_total=1), grouped)
    assert out["phq2.total"] == (1,) and issues == []


def test_a_questionnaire_without_items_or_without_a_rules_total_item_computes_nothing() -> None:
    given = answers(phq2_q1=SEVERAL_DAYS, phq2_q2=SEVERAL_DAYS)
    assert flatten_items({"resourceType": "Questionnaire"}) == {}
    assert complete_scores(given, {"resourceType": "Questionnaire"}) == (given, [])
    items_only = {"resourceType": "Questionnaire",
                  "item": [flatten_items(INTAKE)[link] for link in ("phq2.q1", "phq2.q2")]}
    assert complete_scores(given, items_only) == (given, [])  # the items are there, the total item is not
    total_only = {"resourceType": "Questionnaire", "item": [flatten_items(INTAKE)["phq2.total"]]}
    assert complete_scores(answers(phq2_total=3), total_only) == (answers(phq2_total=3), [])


# -- an item's score and range ------------------------------------------------------------------------------------
def test_item_range_from_ordinals_then_min_and_max_values() -> None:
    items = flatten_items(INTAKE)
    assert item_range(items["phq2.q1"]) == (0, 3)
    assert item_range(items["fabq.pa2"]) == (0, 6)
    assert item_range(items["evs.days"]) == (0, 7)
    assert item_range(items["evs.minutes"]) == (0, 600)


@pytest.mark.parametrize("extensions,expected", [
    ([bound(c.EXT_MIN_VALUE, valueInteger=2), bound(c.EXT_MAX_VALUE, valueInteger=9)], (2, 9)),
    ([bound(c.EXT_MIN_VALUE, valueDecimal=0.5), bound(c.EXT_MAX_VALUE, valueDecimal=7.5)], (0.5, 7.5)),
    ([bound(c.EXT_MAX_VALUE, valueInteger=9)], (0, 9)),  # no minValue: scores are never negative
    ([bound(c.EXT_MIN_VALUE, valueInteger=1)], (1, float("inf"))),  # no maxValue: open-ended
    ([bound("http://hl7.org/fhir/StructureDefinition/questionnaire-sliderStepValue", valueInteger=5)],
     (0, float("inf"))),
    ([], (0, float("inf"))),
], ids=["integer", "decimal", "max-only", "min-only", "other-extension", "none"])
def test_item_range_of_a_number_item(extensions: list[dict[str, Any]], expected: tuple[float, float]) -> None:
    item = {"linkId": "n", "type": "decimal", **({"extension": extensions} if extensions else {})}
    assert item_range(item) == expected


def test_options_without_a_coding_or_an_ordinal_are_no_score() -> None:
    """answerOption may be valueInteger/valueString (no Coding): no score, no crash; an ordinal on the option
    itself counts like one on its Coding."""
    item = {"linkId": "o", "type": "choice", "answerOption": [
        {"valueString": "a"}, {"valueInteger": 4},
        {"valueCoding": {"code": "x"}, "extension": [{"url": c.EXT_ORDINAL_VALUE, "valueDecimal": 2}]}]}
    assert item_score(item, "a") is None
    assert item_score(item, "x") == 2
    assert item_score(item, True) is None
    assert item_range(item) == (2, 2)
    assert item_score({"linkId": "n", "type": "integer"}, "4") is None  # no options at all


def test_an_open_ended_item_range_is_reported_as_or_more() -> None:
    """Minutes without a maxValue (another form's item): 3 days allow "0 or more" minutes a week."""
    items = copy.deepcopy(flatten_items(INTAKE))
    items["evs.minutes"]["extension"] = [e for e in items["evs.minutes"]["extension"] if e["url"] != c.EXT_MAX_VALUE]
    form = {"resourceType": "Questionnaire", "item": [items[k] for k in ("evs.days", "evs.minutes", "evs.min_week")]}
    _, issues = complete_scores(answers(evs_days=3, evs_min_week=100), form)
    assert only_issue(issues).diagnostics.endswith("missing: evs.minutes. The answered items allow 0 or more.")
