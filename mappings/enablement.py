"""Which Questionnaire items are enabled by the answers (R4 ``enableWhen`` / ``enableBehavior``).

An item that is not enabled is not asked, so it has no answer: a form filler hides it, the validator
refuses a response that answers it, and the mapping refuses such an answer by name (the FABQ work
items are asked only of people who work, ``work.employed`` = true). Items are visited in
Questionnaire order and a disabled item's answers are ignored, so an item that depends on a disabled
one is disabled too; the descendants of a disabled item are disabled.
R4 semantics (Questionnaire.item.enableWhen): ``exists`` compares presence with answerBoolean; the
other operators are true when some answer compares as asked (no answer: false).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from mappings.domain import AnswerValue
from mappings.errors import Issue

Answers = dict[str, tuple[AnswerValue, ...]]

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le,
}


def _expected(condition: dict[str, Any]) -> Any:
    for key, value in condition.items():
        if key.startswith("answer") and key[6:7].isupper():
            return value.get("code") if key == "answerCoding" else value
    return None


def condition_holds(condition: dict[str, Any], answers: Answers) -> bool:
    values = answers.get(condition.get("question", ""), ())
    expected = _expected(condition)
    if condition.get("operator") == "exists":
        return bool(values) == bool(expected)
    compare = _OPERATORS.get(str(condition.get("operator")))
    if compare is None:
        return False
    try:
        return any(compare(v, expected) for v in values if isinstance(v, bool) == isinstance(expected, bool))
    except TypeError:  # e.g. a string answer against a number: not equal, not ordered
        return condition.get("operator") == "!="


def is_enabled(item: dict[str, Any], answers: Answers) -> bool:
    conditions = item.get("enableWhen") or []
    if not conditions:
        return True
    results = [condition_holds(cond, answers) for cond in conditions]
    return any(results) if item.get("enableBehavior") == "any" else all(results)


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def describe(item: dict[str, Any]) -> str:
    """``work.employed = true`` (the conditions of an item, for messages)."""
    parts = [f"{c.get('question')} {c.get('operator')} {_shown(_expected(c))}" for c in item.get("enableWhen") or []]
    return (" or " if item.get("enableBehavior") == "any" else " and ").join(parts)


def enabled_answers(answers: Answers, questionnaire: dict[str, Any]) -> tuple[Answers, list[Issue]]:
    """The answers to enabled items, and an issue for each answer to an item that is not enabled."""
    kept = dict(answers)
    issues: list[Issue] = []

    def walk(items: list[dict[str, Any]], parent_enabled: bool) -> None:
        for item in items:
            link = item["linkId"]
            on = parent_enabled and is_enabled(item, kept)
            if not on and link in kept:
                del kept[link]
                why = f"it is asked only when {describe(item)}" if item.get("enableWhen") else "its group is not asked"
                issues.append(Issue("error", "business-rule", f"{link} is answered but not enabled: {why}",
                                    f"answers.{link}"))
            walk(item.get("item", []), on)

    walk(questionnaire.get("item", []), True)
    return kept, issues


def disabled_links(answers: Answers, questionnaire: dict[str, Any]) -> set[str]:
    """linkIds of every item (answered or not) that the answers leave disabled."""
    kept, _ = enabled_answers(answers, questionnaire)
    found: set[str] = set()

    def walk(items: list[dict[str, Any]], parent_enabled: bool) -> None:
        for item in items:
            on = parent_enabled and is_enabled(item, kept)
            if not on:
                found.add(item["linkId"])
            walk(item.get("item", []), on)

    walk(questionnaire.get("item", []), True)
    return found
