"""Property: a calculated total exists exactly when all its items are answered, and equals its rule.

For each instrument (FABQ-PA, FABQ-W, PHQ-2, GAD-2, EVS minutes/week) every subset of its items is
tried (parametrized), with answer values and a supplied total drawn by hypothesis. The expected total
is computed here from the instrument's published rule (docs/clinical-content.md), independently of
``mappings.scoring``: FABQ answers score their agreement 0-6, PHQ/GAD answers 0-3 in the order of the
LOINC answer list, EVS minutes/week = days x minutes. Mapping goes through the real Questionnaire of
the implementation guide, the QuestionnaireResponse mapping and SDC extraction.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.domain import AnswerValue, Episode, PatientRef, QuestionnaireAnswers
from mappings.errors import MappingError
from mappings.extraction import extract_observations
from mappings.questionnaire import answers_to_questionnaire_response
from service.ig import load_package

PHQ_ANSWERS = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")  # 0, 1, 2, 3
FABQ_ANSWERS = tuple(str(n) for n in range(7))  # agreement 0-6
INSTRUMENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fabq.pa_score": ("sum", ("fabq.pa2", "fabq.pa3", "fabq.pa4", "fabq.pa5")),
    "fabq.w_score": ("sum", ("fabq.w6", "fabq.w7", "fabq.w9", "fabq.w10", "fabq.w11", "fabq.w12", "fabq.w15")),
    "phq2.total": ("sum", ("phq2.q1", "phq2.q2")),
    "gad2.total": ("sum", ("gad2.q1", "gad2.q2")),
    "evs.min_week": ("product", ("evs.days", "evs.minutes")),
}
LIMITS = {"evs.days": 7, "evs.minutes": 600}
EPISODE = Episode("EP-PROP", PatientRef("urn:oid:1.2.3", "P-PROP"), "2026-01-05")
QUESTIONNAIRE = load_package().questionnaires()["intake"]
SUBSETS = [(total, chosen) for total, (_, inputs) in INSTRUMENTS.items()
           for size in range(len(inputs) + 1) for chosen in itertools.combinations(inputs, size)]


def score(link: str, value: AnswerValue) -> int:
    if link.startswith("fabq."):
        return FABQ_ANSWERS.index(str(value))
    if link.startswith(("phq2.", "gad2.")):
        return PHQ_ANSWERS.index(str(value))
    assert isinstance(value, int)
    return value


def rule(total: str, answers: dict[str, AnswerValue]) -> int:
    op, inputs = INSTRUMENTS[total]
    scores = [score(link, answers[link]) for link in inputs]
    return sum(scores) if op == "sum" else scores[0] * scores[1]


def answer_values(link: str) -> st.SearchStrategy[AnswerValue]:
    if link.startswith("fabq."):
        return st.sampled_from(FABQ_ANSWERS)
    if link.startswith(("phq2.", "gad2.")):
        return st.sampled_from(PHQ_ANSWERS)
    return st.integers(0, LIMITS[link])


def map_answers(answers: dict[str, AnswerValue]) -> list[dict[str, Any]]:
    response = QuestionnaireAnswers("R-PROP", "intake", "2026-01-05T09:00:00+02:00",
                                    tuple((link, (value,)) for link, value in answers.items()))
    qr = answers_to_questionnaire_response(response, EPISODE, QUESTIONNAIRE)
    return extract_observations(qr, QUESTIONNAIRE)


def total_observations(observations: list[dict[str, Any]], total: str) -> list[dict[str, Any]]:
    return [o for o in observations if o["identifier"][0]["value"].endswith(f"/{total}")]


@pytest.mark.parametrize("total,chosen", SUBSETS, ids=[f"{t}:{'+'.join(c) or 'none'}" for t, c in SUBSETS])
@settings(max_examples=8, deadline=None, database=None)
@given(data=st.data())
def test_a_total_exists_exactly_when_all_its_items_are_answered(total: str, chosen: tuple[str, ...],
                                                                 data: st.DataObject) -> None:
    _, inputs = INSTRUMENTS[total]
    answers: dict[str, AnswerValue] = {"work.employed": True}
    answers.update({link: data.draw(answer_values(link), label=link) for link in chosen})
    complete = set(chosen) == set(inputs)
    expected = rule(total, answers) if complete else None
    supplied = data.draw(st.one_of(st.none(), st.integers(-1, 4300), st.just(expected)), label="supplied total")
    if supplied is not None:
        answers[total] = supplied
    if supplied is not None and (not complete or supplied != expected):
        with pytest.raises(MappingError) as refused:
            map_answers(answers)
        [issue] = [i for i in refused.value.issues if i.expression == f"answers.{total}"]
        assert issue.severity == "error"
        for missing in set(inputs) - set(chosen):
            assert missing in issue.diagnostics
        return
    found = total_observations(map_answers(answers), total)
    if not complete:
        assert found == [], f"{total} recorded from partial items {chosen}"
        return
    [obs] = found
    assert obs["valueQuantity"]["value"] == expected


@settings(max_examples=60, deadline=None, database=None)
@given(answers=st.fixed_dictionaries({link: answer_values(link) for link in INSTRUMENTS["phq2.total"][1]}),
       drop=st.sampled_from(INSTRUMENTS["phq2.total"][1]), supplied=st.integers(0, 6))
def test_a_supplied_total_its_answered_items_cannot_give_is_called_impossible(
        answers: dict[str, AnswerValue], drop: str, supplied: int) -> None:
    """PHQ-2 = 6 with item 1 "several days" and item 2 missing: refused, and named impossible only when
    no answer to the missing item could give it."""
    kept = {k: v for k, v in answers.items() if k != drop}
    low = sum(score(k, v) for k, v in kept.items())
    with pytest.raises(MappingError) as refused:
        map_answers({**kept, "phq2.total": supplied})
    [issue] = [i for i in refused.value.issues if i.expression == "answers.phq2.total"]
    assert drop in issue.diagnostics
    assert ("impossible" in issue.diagnostics) == (not low <= supplied <= low + 3), issue.diagnostics


WORK_ITEMS = tuple(f"fabq.w{n}" for n in range(6, 17))


@settings(max_examples=40, deadline=None, database=None)
@given(employed=st.sampled_from([True, False, None]),
       work=st.dictionaries(st.sampled_from(WORK_ITEMS), st.sampled_from(FABQ_ANSWERS)))
def test_fabq_w_only_for_people_who_work(employed: bool | None, work: dict[str, AnswerValue]) -> None:
    answers: dict[str, AnswerValue] = {**({} if employed is None else {"work.employed": employed}), **work}
    if employed is not True and work:
        with pytest.raises(MappingError) as refused:
            map_answers(answers)
        named = {i.expression: i.diagnostics for i in refused.value.issues}
        assert set(named) == {f"answers.{link}" for link in work}
        assert all("work.employed = true" in text for text in named.values())
        return
    found = total_observations(map_answers(answers), "fabq.w_score")
    scored = INSTRUMENTS["fabq.w_score"][1]
    complete = employed is True and set(scored) <= set(work)
    assert len(found) == (1 if complete else 0)
    if complete:
        assert found[0]["valueQuantity"]["value"] == rule("fabq.w_score", work)


@settings(max_examples=30, deadline=None, database=None)
@given(total=st.sampled_from(sorted(INSTRUMENTS)), data=st.data())
def test_extraction_of_a_foreign_response_never_records_a_total_from_partial_items(total: str,
                                                                                  data: st.DataObject) -> None:
    """A QuestionnaireResponse from elsewhere (an EHR's form filler summing the answered items) whose
    total lost an item: extraction refuses it, naming the total in the response."""
    _, inputs = INSTRUMENTS[total]
    answers: dict[str, AnswerValue] = {"work.employed": True}
    answers.update({link: data.draw(answer_values(link), label=link) for link in inputs})
    response = QuestionnaireAnswers("R-FOREIGN", "intake", "2026-01-05T09:00:00+02:00",
                                    tuple((link, (value,)) for link, value in answers.items()))
    qr = answers_to_questionnaire_response(response, EPISODE, QUESTIONNAIRE)
    assert len(total_observations(extract_observations(qr, QUESTIONNAIRE), total)) == 1
    dropped = data.draw(st.sampled_from(inputs), label="dropped item")
    qr["item"] = [item for item in qr["item"] if item["linkId"] != dropped]
    with pytest.raises(MappingError) as refused:
        extract_observations(qr, QUESTIONNAIRE)
    [issue] = refused.value.issues
    assert issue.expression == f"QuestionnaireResponse.item.where(linkId='{total}')"
    assert dropped in issue.diagnostics
