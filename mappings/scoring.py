"""Scoring of the ETMI questionnaires: the calculated totals, computed from the answers.

The Questionnaires carry the same rules as ``calculatedExpression`` (FHIRPath) for form fillers; this
module is the service's own implementation, and a contract test checks that every rule's items exist
in the Questionnaire. Item scores come from the Questionnaire's ``ordinalValue`` extensions, so the
rules never hard-code answer codes.
- FABQ-PA = items 2+3+4+5 (0-24; item 1 is not scored); FABQ-W = items 6+7+9+10+11+12+15 (0-42)
  (Waddell et al., Pain 1993).
- PHQ-2 = PHQ items 1+2 (0-6); GAD-2 = GAD items 1+2 (0-6).
- Exercise Vital Sign minutes/week = days/week x minutes/day (HL7 Physical Activity IG).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from mappings import canonical as c
from mappings.domain import AnswerValue
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
    """Every item of a Questionnaire (groups included) by linkId."""
    found: dict[str, dict[str, Any]] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            found[item["linkId"]] = item
            walk(item.get("item", []))

    walk(questionnaire.get("item", []))
    return found


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


def _as_number(total: float) -> int | float:
    return int(total) if total.is_integer() else total


def complete_scores(
    answers: dict[str, tuple[AnswerValue, ...]], questionnaire: dict[str, Any]
) -> tuple[dict[str, tuple[AnswerValue, ...]], list[Issue]]:
    """Add each calculated total whose inputs are all answered; flag a supplied total that disagrees."""
    items = flatten_items(questionnaire)
    out = dict(answers)
    issues: list[Issue] = []
    for total_id, (op, inputs) in RULES.items():
        if total_id not in items or not all(i in items and answers.get(i) for i in inputs):
            continue
        scores = [item_score(items[i], answers[i][0]) for i in inputs]
        if any(s is None for s in scores):
            continue
        values = [s for s in scores if s is not None]
        total = _as_number(sum(values) if op == "sum" else math.prod(values))
        given = answers.get(total_id)
        if given and given[0] != total:
            issues.append(Issue("error", "business-rule", f"{total_id} is calculated as {op} of "
                                f"{', '.join(inputs)} = {total}, but {given[0]} was supplied",
                                f"answers.{total_id}"))
        out[total_id] = (total,)
    return out, issues
