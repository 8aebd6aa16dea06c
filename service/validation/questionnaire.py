"""Checks a QuestionnaireResponse against its Questionnaire (R4 semantics).

linkIds must exist at their level and keep the Questionnaire's order; answers must fit the item type,
its answerOptions or answerValueSet, repeats, maxLength and the minValue/maxValue extensions; items
that are not enabled (enableWhen) must not be answered; required enabled items must be answered when
the response is completed or amended. Each Questionnaire is compiled once into :class:`QItem` trees
(``questionnaire_items.py``, cached per engine by ``questionnaire_cache.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.validation.outcome import Issues
from service.validation.protocols import Validator
from service.validation.questionnaire_items import QItem, comparable, value_of
from service.validation.shapes import as_list, hashable
from service.validation.terminology import Terminology

JSON = dict[str, Any]


@dataclass
class _Context:
    terminology: Terminology
    issues: Issues
    completed: bool
    answers: dict[str, list[Any]] = field(default_factory=dict)


def _index(items: Any, out: dict[str, list[Any]], watched: frozenset[str]) -> None:
    for item in as_list(items):
        if not isinstance(item, dict):
            continue
        link = item.get("linkId")
        if not hashable(link):
            continue
        for answer in as_list(item.get("answer")):
            found = value_of(answer) if link in watched else None
            if found is not None:
                out.setdefault(str(link), []).append(comparable(found[1]))
            if isinstance(answer, dict) and "item" in answer:
                _index(answer["item"] or [], out, watched)
        if "item" in item:
            _index(item["item"] or [], out, watched)


def find_questionnaire(engine: Validator, qr: JSON, url: str) -> JSON | None:
    if url.startswith("#"):
        return next((c for c in qr.get("contained") or [] if isinstance(c, dict) and c.get("id") == url[1:]), None)
    return engine.defs.questionnaires.get(url.split("|", 1)[0])


def check_answers(engine: Validator, qr: JSON, path: str, issues: Issues) -> None:
    url = qr.get("questionnaire")
    if not isinstance(url, str):
        return
    questionnaire = find_questionnaire(engine, qr, url)
    if questionnaire is None:
        issues.warning("not-found", f"{path}.questionnaire",
                       f"The Questionnaire '{url}' could not be resolved, so the answers were not checked")  # fmt: skip
        return
    version = url.split("|", 1)[1] if "|" in url else None
    if version is not None and questionnaire.get("version") not in (None, version):
        known = questionnaire.get("version")
        issues.warning("value", f"{path}.questionnaire", f"Questionnaire version {version} requested, {known} is known")
    compiled, watched = engine.questionnaires.compiled(questionnaire)
    ctx = _Context(engine.terminology, issues, qr.get("status") in ("completed", "amended"))
    if watched:
        _index(qr.get("item") or [], ctx.answers, watched)
    _items(compiled, qr.get("item") or [], path, ctx)


def _items(q_items: dict[str, tuple[int, QItem]], items: list[Any], path: str, ctx: _Context) -> None:
    last, seen = -1, dict[Any, int]()  # a plain dict: building a Counter per level cost more than the level
    answered: set[str] = set()
    for i, item in enumerate(as_list(items)):
        if not isinstance(item, dict):
            continue
        link = item.get("linkId")
        found = q_items.get(link) if isinstance(link, str) else None
        if found is None:
            ctx.issues.error(
                "structure", f"{path}.item[{i}]", f"No item with linkId '{link}' at this level of the Questionnaire"
            )
            continue
        index, q_item = found
        ipath = f"{path}.item[{i}]"
        if index < last:
            ctx.issues.error("structure", ipath, f"Item '{link}' is out of the Questionnaire's order")
        last = index
        seen[link] = times = seen.get(link, 0) + 1
        if times > 1 and not q_item.repeats:
            ctx.issues.error("structure", ipath, f"Item '{link}' appears more than once but does not repeat")
        if item.get("answer") or item.get("item"):
            answered.add(q_item.link)
        _item(q_item, item, ipath, ctx)
    for _, q_item in q_items.values():
        on = _enabled(q_item, ctx)
        if not on and q_item.link in answered:
            ctx.issues.error("business-rule", path, f"Item '{q_item.link}' is answered but not enabled (enableWhen)")
        elif on and q_item.required and ctx.completed and q_item.link not in answered and q_item.kind != "display":
            ctx.issues.error("required", path, f"Required item '{q_item.link}' has no answer")


def _item(q_item: QItem, item: JSON, path: str, ctx: _Context) -> None:
    text = item.get("text")
    if text is not None and q_item.text is not None and text != q_item.text:
        ctx.issues.error(
            "value", path, f"If text exists, it must match the questionnaire definition for linkId {q_item.link}"
        )
    answers = as_list(item.get("answer"))
    if q_item.kind in ("group", "display"):
        if answers:
            ctx.issues.error("structure", f"{path}.answer", f"Item '{q_item.link}' ({q_item.kind}) can't have answers")
        if q_item.kind == "display" and item.get("item"):
            ctx.issues.error("structure", f"{path}.item", "Display items can't have child items")
        _items(q_item.children, item.get("item") or [], path, ctx)
        return
    if len(answers) > 1 and not q_item.repeats:
        ctx.issues.error("structure", f"{path}.answer", f"Item '{q_item.link}' allows only one answer")
    for j, answer in enumerate(answers):
        found = value_of(answer)
        if found is not None:
            _answer(q_item, found[0], found[1], f"{path}.answer[{j}]", ctx)
        if isinstance(answer, dict) and answer.get("item"):
            _items(q_item.children, answer["item"], f"{path}.answer[{j}]", ctx)
    if item.get("item"):
        _items(q_item.children, item["item"], path, ctx)


def _answer(q_item: QItem, key: str, value: Any, path: str, ctx: _Context) -> None:
    if q_item.allowed is not None and key not in q_item.allowed:
        expected = " or ".join(q_item.allowed)
        ctx.issues.error(
            "structure", path, f"Answer {key} does not fit item type '{q_item.kind}' (expected {expected})"
        )
        return
    if q_item.options is not None:
        compared = comparable(value)
        if not hashable(compared) or (
            not (q_item.open_text and key == "valueString") and (key, compared) not in q_item.options
        ):
            ctx.issues.error("code-invalid", path, "The answer is not one of the item's answerOptions")
    elif q_item.value_set is not None and key == "valueCoding" and isinstance(value, dict):
        expansion = ctx.terminology.expand(q_item.value_set)
        if expansion is not None and not expansion.has_coding(value.get("system"), value.get("code")):
            ctx.issues.error("code-invalid", path, f"The answer is not in the value set {q_item.value_set}")
    number = value.get("value") if key == "valueQuantity" and isinstance(value, dict) else value
    try:
        if q_item.minimum is not None and number < q_item.minimum:
            ctx.issues.error("value", path, f"The answer {number} is below the minimum {q_item.minimum}")
        if q_item.maximum is not None and number > q_item.maximum:
            ctx.issues.error("value", path, f"The answer {number} is above the maximum {q_item.maximum}")
    except TypeError:
        pass  # a wrong JSON type: reported by the structural checks
    if q_item.max_length is not None and isinstance(value, str) and len(value) > q_item.max_length:
        ctx.issues.error("value", path, f"The answer is longer than maxLength {q_item.max_length}")


def _enabled(q_item: QItem, ctx: _Context) -> bool:
    if not q_item.enable_when:
        return True
    results = (_condition(question, operator, expected, ctx) for question, operator, expected in q_item.enable_when)
    return any(results) if q_item.enable_any else all(results)


def _condition(question: str, operator: str, expected: Any, ctx: _Context) -> bool:
    values = ctx.answers.get(question, [])
    if operator == "exists":
        return bool(values) == bool(expected)
    if operator == "=":
        return expected in values
    if operator == "!=":
        return bool(values) and expected not in values
    try:
        if operator == ">":
            return any(v > expected for v in values)
        if operator == "<":
            return any(v < expected for v in values)
        if operator == ">=":
            return any(v >= expected for v in values)
        if operator == "<=":
            return any(v <= expected for v in values)
    except TypeError:
        return False
    return False


def check_questionnaire(questionnaire: JSON, path: str, issues: Issues) -> None:
    """enableWhen.question must name an item of the Questionnaire."""
    links: set[Any] = set()
    located: list[tuple[str, Any]] = []

    def visit(items: Any, prefix: str) -> None:
        for i, item in enumerate(as_list(items)):
            if not isinstance(item, dict):
                continue
            ipath = f"{prefix}.item[{i}]"
            if hashable(item.get("linkId")):
                links.add(item.get("linkId"))
            for condition in as_list(item.get("enableWhen")):
                if isinstance(condition, dict):
                    located.append((ipath, condition.get("question")))
            visit(item.get("item"), ipath)

    visit(questionnaire.get("item"), path)
    for ipath, question in located:
        if hashable(question) and question not in links:
            issues.error(
                "structure", ipath, f"Unable to find an item with the linkId {question!r} referenced in enableWhen"
            )
