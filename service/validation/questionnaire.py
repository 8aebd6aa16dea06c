"""Checks a QuestionnaireResponse against its Questionnaire (R4 semantics).

linkIds must exist at their level and keep the Questionnaire's order; answers must fit the item type,
its answerOptions or answerValueSet, repeats, maxLength and the minValue/maxValue extensions; items
that are not enabled (enableWhen) must not be answered; required enabled items must be answered when
the response is completed or amended.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mappings.canonical import EXT_MAX_VALUE, EXT_MIN_VALUE
from service.validation.outcome import Issues

if TYPE_CHECKING:
    from service.validation.engine import Engine

JSON = dict[str, Any]
ANSWER_TYPES: dict[str, tuple[str, ...]] = {
    "boolean": ("valueBoolean",),
    "decimal": ("valueDecimal",),
    "integer": ("valueInteger",),
    "date": ("valueDate",),
    "dateTime": ("valueDateTime",),
    "time": ("valueTime",),
    "string": ("valueString",),
    "text": ("valueString",),
    "url": ("valueUri",),
    "choice": ("valueCoding",),
    "open-choice": ("valueCoding", "valueString"),
    "attachment": ("valueAttachment",),
    "reference": ("valueReference",),
    "quantity": ("valueQuantity",),
}


@dataclass
class _Context:
    engine: Engine
    issues: Issues
    completed: bool
    answers: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)


def _value(answer: Any, prefix: str = "value") -> tuple[str, Any] | None:
    if not isinstance(answer, dict):
        return None
    return next(((k, v) for k, v in answer.items() if k.startswith(prefix) and k[len(prefix) :][:1].isupper()), None)


def _index(items: list[Any], out: dict[str, list[tuple[str, Any]]]) -> None:
    for item in items:
        if not isinstance(item, dict):
            continue
        for answer in item.get("answer") or []:
            found = _value(answer)
            if found is not None:
                out.setdefault(str(item.get("linkId")), []).append(found)
            if isinstance(answer, dict):
                _index(answer.get("item") or [], out)
        _index(item.get("item") or [], out)


def find_questionnaire(engine: Engine, qr: JSON, url: str) -> JSON | None:
    if url.startswith("#"):
        return next((c for c in qr.get("contained") or [] if isinstance(c, dict) and c.get("id") == url[1:]), None)
    return engine.defs.questionnaires.get(url.split("|", 1)[0])


def check_answers(engine: Engine, qr: JSON, path: str, issues: Issues) -> None:
    url = qr.get("questionnaire")
    if not isinstance(url, str):
        return
    questionnaire = find_questionnaire(engine, qr, url)
    if questionnaire is None:
        issues.warning(
            "not-found",
            f"{path}.questionnaire",
            f"The Questionnaire '{url}' could not be resolved, so the answers were not checked",
        )
        return
    version = url.split("|", 1)[1] if "|" in url else None
    if version is not None and questionnaire.get("version") not in (None, version):
        issues.error(
            "value",
            f"{path}.questionnaire",
            f"Questionnaire version {version} requested, but {questionnaire.get('version')} is known",
        )
    ctx = _Context(engine, issues, qr.get("status") in ("completed", "amended"))
    _index(qr.get("item") or [], ctx.answers)
    _items(questionnaire.get("item") or [], qr.get("item") or [], path, ctx, True)


def _items(q_items: list[JSON], items: list[Any], path: str, ctx: _Context, enabled: bool) -> None:
    by_link = {q.get("linkId"): (i, q) for i, q in enumerate(q_items) if isinstance(q, dict)}
    last, seen = -1, Counter[Any]()
    present: dict[Any, list[JSON]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        ipath = f"{path}.item[{i}]"
        link = item.get("linkId")
        if link not in by_link:
            ctx.issues.error("structure", ipath, f"No item with linkId '{link}' at this level of the Questionnaire")
            continue
        index, q_item = by_link[link]
        if index < last:
            ctx.issues.error("structure", ipath, f"Item '{link}' is out of the Questionnaire's order")
        last = index
        seen[link] += 1
        if seen[link] > 1 and not q_item.get("repeats"):
            ctx.issues.error("structure", ipath, f"Item '{link}' appears more than once but does not repeat")
        present.setdefault(link, []).append(item)
        _item(q_item, item, ipath, ctx)
    for q_item in q_items:
        link = q_item.get("linkId")
        on = enabled and _enabled(q_item, ctx)
        answered = [it for it in present.get(link, []) if it.get("answer") or it.get("item")]
        if not on and answered:
            ctx.issues.error("business-rule", path, f"Item '{link}' is answered but not enabled (enableWhen)")
        elif on and q_item.get("required") and ctx.completed and not answered and q_item.get("type") != "display":
            ctx.issues.error("required", path, f"Required item '{link}' has no answer")


def _item(q_item: JSON, item: JSON, path: str, ctx: _Context) -> None:
    kind = q_item.get("type")
    answers = item.get("answer") or []
    if kind in ("group", "display"):
        if answers:
            ctx.issues.error(
                "structure", f"{path}.answer", f"Item '{q_item.get('linkId')}' ({kind}) can't have answers"
            )
        if kind == "display" and item.get("item"):
            ctx.issues.error("structure", f"{path}.item", "Display items can't have child items")
        _items(q_item.get("item") or [], item.get("item") or [], path, ctx, True)
        return
    if len(answers) > 1 and not q_item.get("repeats"):
        ctx.issues.error("structure", f"{path}.answer", f"Item '{q_item.get('linkId')}' allows only one answer")
    allowed = ANSWER_TYPES.get(str(kind))
    if allowed is not None and kind in ("choice", "open-choice"):
        option_keys = {found[0] for o in q_item.get("answerOption") or [] if (found := _value(o)) is not None}
        allowed = tuple(sorted(set(allowed) | option_keys))
    for j, answer in enumerate(answers):
        apath = f"{path}.answer[{j}]"
        found = _value(answer)
        if found is not None:
            key, value = found
            if allowed is not None and key not in allowed:
                ctx.issues.error(
                    "structure",
                    apath,
                    f"Answer {key} does not fit item type '{kind}' (expected {' or '.join(allowed)})",
                )
            else:
                _option(q_item, key, value, apath, ctx)
                _limits(q_item, key, value, apath, ctx)
        if isinstance(answer, dict) and answer.get("item"):
            _items(q_item.get("item") or [], answer["item"], apath, ctx, True)
    if item.get("item"):
        _items(q_item.get("item") or [], item["item"], path, ctx, True)


def _option(q_item: JSON, key: str, value: Any, path: str, ctx: _Context) -> None:
    options = [found for o in q_item.get("answerOption") or [] if (found := _value(o)) is not None]
    if options:
        if key == "valueString" and q_item.get("type") == "open-choice":
            return
        if key == "valueCoding" and isinstance(value, dict):
            ok = any(
                k == "valueCoding"
                and isinstance(o, dict)
                and o.get("code") == value.get("code")
                and o.get("system") == value.get("system")
                for k, o in options
            )
        else:
            ok = any(k == key and o == value for k, o in options)
        if not ok:
            ctx.issues.error("code-invalid", path, "The answer is not one of the item's answerOptions")
    elif isinstance(q_item.get("answerValueSet"), str) and key == "valueCoding" and isinstance(value, dict):
        expansion = ctx.engine.terminology.expand(q_item["answerValueSet"])
        if expansion is not None and not expansion.has_coding(value.get("system"), value.get("code")):
            ctx.issues.error("code-invalid", path, f"The answer is not in the value set {q_item['answerValueSet']}")


def _limits(q_item: JSON, key: str, value: Any, path: str, ctx: _Context) -> None:
    number = value.get("value") if key == "valueQuantity" and isinstance(value, dict) else value
    for ext in q_item.get("extension") or []:
        url = ext.get("url") if isinstance(ext, dict) else None
        if url not in (EXT_MIN_VALUE, EXT_MAX_VALUE):
            continue
        found = _value(ext)
        if found is None or number is None:
            continue
        limit = found[1].get("value") if isinstance(found[1], dict) else found[1]
        try:
            below = number < limit
            above = number > limit
        except TypeError:
            continue
        if url == EXT_MIN_VALUE and below:
            ctx.issues.error("value", path, f"The answer {number} is below the minimum {limit}")
        elif url == EXT_MAX_VALUE and above:
            ctx.issues.error("value", path, f"The answer {number} is above the maximum {limit}")
    max_length = q_item.get("maxLength")
    if isinstance(max_length, int) and isinstance(value, str) and len(value) > max_length:
        ctx.issues.error("value", path, f"The answer is longer than maxLength {max_length}")


def _enabled(q_item: JSON, ctx: _Context) -> bool:
    conditions = [c for c in q_item.get("enableWhen") or [] if isinstance(c, dict)]
    if not conditions:
        return True
    results = [_condition(c, ctx) for c in conditions]
    return any(results) if q_item.get("enableBehavior") == "any" else all(results)


def _condition(condition: JSON, ctx: _Context) -> bool:
    answers = ctx.answers.get(str(condition.get("question")), [])
    operator = condition.get("operator")
    found = _value(condition, "answer")
    if found is None:
        return False
    expected = found[1]
    if operator == "exists":
        return bool(answers) == bool(expected)
    values = [_comparable(v) for _, v in answers]
    target = _comparable(expected)
    if operator == "=":
        return target in values
    if operator == "!=":
        return bool(values) and target not in values
    try:
        if operator == ">":
            return any(v > target for v in values)
        if operator == "<":
            return any(v < target for v in values)
        if operator == ">=":
            return any(v >= target for v in values)
        if operator == "<=":
            return any(v <= target for v in values)
    except TypeError:
        return False
    return False


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        if "code" in value:
            return (value.get("system"), value.get("code"))
        if "value" in value:
            return value["value"]
        return tuple(sorted(value.items()))
    return value
