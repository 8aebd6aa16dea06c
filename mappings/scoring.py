"""Scoring of the ETMI questionnaires: the calculated totals, computed from the answers.

The Questionnaires carry the same rules as ``calculatedExpression`` (FHIRPath) for form fillers; this
module is the service's own implementation, and a contract test checks that every rule's items exist
in the Questionnaire. Item scores come from the Questionnaire's ``ordinalValue`` extensions, so the
rules never hard-code answer codes. Rules and sources: ``docs/clinical-content.md``.
- FABQ-PA = items 2+3+4+5 (0-24; item 1 is not scored); FABQ-W = items 6+7+9+10+11+12+15 (0-42)
  (Waddell et al., Pain 1993). Higher = stronger fear-avoidance beliefs.
- PHQ-2 = PHQ items 1+2 (0-6); GAD-2 = GAD items 1+2 (0-6); 3 or more is a positive screen.
- Exercise Vital Sign minutes/week = days/week x minutes/day (HL7 Physical Activity IG).

A total exists only when every one of its items is answered: a missing item is unknown, not 0, so a
total made of the answered items alone would understate the score (a false-negative screen). A total
supplied with incomplete items is refused, naming the missing items and the range the answered items
allow; a total that disagrees with complete items is refused too. A total whose item is not enabled
(FABQ-W for a patient who does not work) is never computed.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from mappings import canonical as c
from mappings import qtables
from mappings.domain import AnswerValue
from mappings.enablement import disabled_links
from mappings.errors import Issue

Rule = tuple[Literal["sum", "product"], tuple[str, ...]]

RULES: dict[str, Rule] = {
    "fabq.pa_score": ("sum", ("fabq.pa2", "fabq.pa3", "fabq.pa4", "fabq.pa5")),
    "fabq.w_score": ("sum", ("fabq.w6", "fabq.w7", "fabq.w9", "fabq.w10", "fabq.w11", "fabq.w12", "fabq.w15")),
    "phq2.total": ("sum", ("phq2.q1", "phq2.q2")),
    "gad2.total": ("sum", ("gad2.q1", "gad2.q2")),
    "evs.min_week": ("product", ("evs.days", "evs.minutes")),
}


def flatten_items(questionnaire: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every item of a Questionnaire (groups included) by linkId (a new dict of the same items)."""
    return dict(qtables.tables(questionnaire).items)


def _ordinal(option: dict[str, Any]) -> float | None:
    for holder in (option, option.get("valueCoding", {})):
        for ext in holder.get("extension", []):
            if ext.get("url") == c.EXT_ORDINAL_VALUE:
                return float(ext["valueDecimal"])
    return None


def item_score(item: dict[str, Any], value: AnswerValue) -> float | None:
    """The numeric score of one answer: the number itself, or the chosen option's ordinalValue."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    for option in item.get("answerOption", []):
        if option.get("valueCoding", {}).get("code") == value:
            return _ordinal(option)
    return None


def _options(questionnaire: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """linkId -> option code -> the first answerOption with that code (codes that are strings)."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for link, item in qtables.tables(questionnaire).items.items():
        for option in item.get("answerOption", []):
            code = option.get("valueCoding", {}).get("code")
            if isinstance(code, str):
                table.setdefault(link, {}).setdefault(code, option)
    return table


def _ordinals(questionnaire: dict[str, Any]) -> dict[tuple[str, str], float | None]:
    """(linkId, option code) -> the option's ordinalValue, filled in as options are chosen (options only)."""
    return {}


def _item_scores(questionnaire: dict[str, Any], inputs: tuple[str, ...],
                 answers: dict[str, tuple[AnswerValue, ...]]) -> dict[str, float]:
    """``item_score`` of the first answer of each answered input that has one; a chosen option found in
    per-Questionnaire tables (an answer that is a string can only equal a code that is one)."""
    items = qtables.tables(questionnaire).items
    known = qtables.derived(questionnaire, "scoring.ordinals", _ordinals)
    scores: dict[str, float] = {}
    for link in inputs:
        given = answers.get(link)
        if not given:
            continue
        value = given[0]
        if not isinstance(value, str):
            score = item_score(items[link], value)
        else:
            try:
                score = known[(link, value)]
            except KeyError:  # not chosen before
                option = qtables.derived(questionnaire, "scoring.options", _options).get(link, {}).get(value)
                score = None if option is None else _ordinal(option)
                if option is not None:  # kept for the Questionnaire's own options only
                    known[(link, value)] = score
        if score is not None:
            scores[link] = score
    return scores


def item_range(item: dict[str, Any]) -> tuple[float, float]:
    """The lowest and highest score an item can take: its options' ordinals, or minValue/maxValue."""
    ordinals = [o for o in (_ordinal(opt) for opt in item.get("answerOption", [])) if o is not None]
    if ordinals:
        return min(ordinals), max(ordinals)
    bounds = {e["url"]: e.get("valueInteger", e.get("valueDecimal")) for e in item.get("extension", [])
              if e.get("url") in (c.EXT_MIN_VALUE, c.EXT_MAX_VALUE)}
    return float(bounds.get(c.EXT_MIN_VALUE, 0)), float(bounds.get(c.EXT_MAX_VALUE, math.inf))


def _as_number(total: float) -> int | float:
    return int(total) if total.is_integer() else total


def _combine(op: str, values: list[float]) -> float:
    return sum(values) if op == "sum" else math.prod(values)


def possible_totals(total_id: str, items: dict[str, dict[str, Any]], scores: dict[str, float]) -> tuple[float, float]:
    """The range of totals consistent with the scored items (``scores``) and any value of the others."""
    op, inputs = RULES[total_id]
    ranges = [(scores[i], scores[i]) if i in scores else item_range(items[i]) for i in inputs]
    # every item score is >= 0, so the sum and the product are monotonic in each item
    return _combine(op, [r[0] for r in ranges]), _combine(op, [r[1] for r in ranges])


def _incomplete(total_id: str, given: AnswerValue, missing: list[str], low: float, high: float) -> Issue:
    allowed = f"{_as_number(low)}-{_as_number(high)}" if math.isfinite(high) else f"{_as_number(low)} or more"
    impossible = not isinstance(given, int | float) or isinstance(given, bool) or not low <= given <= high
    return Issue("error", "required", f"{total_id} = {given!r} is refused: a total is kept only when all its items "
                 f"are answered; missing: {', '.join(missing)}. The answered items allow {allowed}"
                 f"{f', so {given!r} is impossible' if impossible else ''}.", f"answers.{total_id}")


def _rules(questionnaire: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """The rules whose total and items are all items of the Questionnaire, in ``RULES`` order."""
    items = qtables.tables(questionnaire).items
    return [(total_id, op, inputs) for total_id, (op, inputs) in RULES.items()
            if total_id in items and all(i in items for i in inputs)]


def complete_scores(
    answers: dict[str, tuple[AnswerValue, ...]], questionnaire: dict[str, Any], disabled: set[str] | None = None
) -> tuple[dict[str, tuple[AnswerValue, ...]], list[Issue]]:
    """Add each calculated total whose items are all answered; refuse a supplied total that its items do
    not give (incomplete items, or a different value). A total is never kept from partial items.
    ``disabled``: ``disabled_links(answers, questionnaire)`` when the caller has it already."""
    items = qtables.tables(questionnaire).items  # read only
    # answers to disabled items are refused by enablement.enabled_answers
    off = disabled_links(answers, questionnaire) if disabled is None else disabled
    out = dict(answers)
    issues: list[Issue] = []
    for total_id, op, inputs in qtables.derived(questionnaire, "scoring.rules", _rules):
        if total_id in off:
            out.pop(total_id, None)
            continue
        given = answers[total_id][0] if answers.get(total_id) else None
        scores = _item_scores(questionnaire, inputs, answers)
        missing = [i for i in inputs if not answers.get(i)]
        out.pop(total_id, None)
        if len(scores) + len(missing) < len(inputs):
            continue  # an answer that is not an option: refused as code-invalid where the answer is rendered
        if missing:
            if given is not None:
                issues.append(_incomplete(total_id, given, missing, *possible_totals(total_id, items, scores)))
            continue
        total = _as_number(_combine(op, [scores[i] for i in inputs]))
        if given is not None and given != total:
            issues.append(Issue("error", "business-rule", f"{total_id} is calculated as {op} of "
                                f"{', '.join(inputs)} = {total}, but {given!r} was supplied", f"answers.{total_id}"))
        out[total_id] = (total,)
    return out, issues
