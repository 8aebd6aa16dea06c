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

from mappings import qtables
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


#: An enableWhen compiled once: question, operator, expected answer, the operator's function (None: unknown
#: operator), whether the expected answer is a boolean, and its truth (for ``exists``).
Condition = tuple[str, str | None, Any, Callable[[Any, Any], bool] | None, bool, bool]


def _compiled(condition: dict[str, Any]) -> Condition:
    op, expected = condition.get("operator"), _expected(condition)
    return (condition.get("question", ""), op, expected, _OPERATORS.get(str(op)), isinstance(expected, bool),
            bool(expected))


def _holds(condition: Condition, answers: Answers) -> bool:
    question, op, expected, compare, boolean, truth = condition
    values = answers.get(question, ())
    if op == "exists":
        return bool(values) == truth
    if compare is None:
        return False
    try:
        for v in values:  # noqa: SIM110 (a loop: no generator per call) answers of the expected kind, not 1 for True
            if isinstance(v, bool) == boolean and compare(v, expected):
                return True
        return False
    except TypeError:  # e.g. a string answer against a number: not equal, not ordered
        return op == "!="


def condition_holds(condition: dict[str, Any], answers: Answers) -> bool:
    return _holds(_compiled(condition), answers)


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


#: The items of a Questionnaire that some answers may disable, in order: each item with an enableWhen and its
#: descendants, each with the position of its parent in this tuple (-1: a parent that is always enabled) and
#: None or its gate (whether any condition suffices, its conditions). Every other item is always enabled.
Gated = tuple[tuple[qtables.Node, int, tuple[bool, tuple[Condition, ...]] | None], ...]


def _gated(questionnaire: dict[str, Any]) -> Gated:
    position: dict[int, int] = {}  # index in Tables.nodes -> position in the result
    out: list[tuple[qtables.Node, int, tuple[bool, tuple[Condition, ...]] | None]] = []
    for index, node in enumerate(qtables.tables(questionnaire).nodes):
        conditions = node.item.get("enableWhen") or []
        parent = position.get(node.parent, -1)
        if conditions or parent >= 0:
            position[index] = len(out)
            gate = (node.item.get("enableBehavior") == "any", tuple(_compiled(c) for c in conditions))
            out.append((node, parent, gate if conditions else None))
    return tuple(out)


def _switches(questionnaire: dict[str, Any], answers: Answers,
              on_disabled: Callable[[qtables.Node], None]) -> None:
    """Decide each item in Questionnaire order against ``answers`` (``is_enabled``, and every ancestor enabled),
    calling ``on_disabled`` for each disabled one before the next item is decided."""
    on: list[bool] = []
    for node, parent, gate in qtables.derived(questionnaire, "enablement.gated", _gated):
        enabled = parent < 0 or on[parent]
        if enabled and gate is not None:  # every condition decided (as any() or all() of the list of them)
            enabled = not gate[0]
            for condition in gate[1]:
                if _holds(condition, answers) is gate[0]:
                    enabled = gate[0]
        on.append(enabled)
        if not enabled:
            on_disabled(node)


def _ordered(questionnaire: dict[str, Any]) -> bool:
    """Whether every enableWhen asks about an item that comes earlier (linkIds unique). Then one pass decides
    as two: when an item is decided, the answers it reads are final, so the answers kept by ``enabled_answers``
    are kept again by it (a fixed point) and each item is decided the same way in a second pass."""
    nodes = qtables.tables(questionnaire).nodes
    position = {node.link: i for i, node in enumerate(nodes)}
    if len(position) != len(nodes):
        return False
    for i, node in enumerate(nodes):
        for condition in node.item.get("enableWhen") or []:
            question = condition.get("question", "")
            if not isinstance(question, str) or position.get(question, -1) >= i:  # a later item or itself
                return False  # (an unknown linkId: never dropped, so its answers are final)
    return True


def _one_pass(answers: Answers, questionnaire: dict[str, Any]) -> tuple[Answers, list[Issue], set[str]]:
    """The answers to enabled items, an issue for each answer to an item that is not enabled, and the linkIds
    of the items decided disabled on the way."""
    kept = dict(answers)
    issues: list[Issue] = []
    found: set[str] = set()

    def drop(node: qtables.Node) -> None:
        found.add(node.link)
        if node.link in kept:
            del kept[node.link]
            item = node.item
            why = f"it is asked only when {describe(item)}" if item.get("enableWhen") else "its group is not asked"
            issues.append(Issue("error", "business-rule", f"{node.link} is answered but not enabled: {why}",
                                f"answers.{node.link}"))

    _switches(questionnaire, kept, drop)
    return kept, issues, found


def enabled_answers(answers: Answers, questionnaire: dict[str, Any]) -> tuple[Answers, list[Issue]]:
    """The answers to enabled items, and an issue for each answer to an item that is not enabled."""
    kept, issues, _ = _one_pass(answers, questionnaire)
    return kept, issues


def disabled_links(answers: Answers, questionnaire: dict[str, Any]) -> set[str]:
    """linkIds of every item (answered or not) that the answers leave disabled."""
    kept, _, found = _one_pass(answers, questionnaire)
    if qtables.derived(questionnaire, "enablement.ordered", _ordered):
        return found
    found = set()
    _switches(questionnaire, kept, lambda node: found.add(node.link))
    return found


def decide(answers: Answers, questionnaire: dict[str, Any]) -> tuple[Answers, list[Issue], set[str]]:
    """``enabled_answers(answers)`` and the ``disabled_links`` of the answers it keeps, in one pass when the
    Questionnaire's enableWhen ask only about earlier items."""
    kept, issues, found = _one_pass(answers, questionnaire)
    if not qtables.derived(questionnaire, "enablement.ordered", _ordered):
        found = disabled_links(kept, questionnaire)
    return kept, issues, found
