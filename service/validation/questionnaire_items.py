"""A Questionnaire compiled for checking its responses: :class:`QItem` trees (answer types, answerOptions,
answerValueSet, min/max extensions, maxLength, enableWhen) and the linkIds the enableWhens read.

``value_of`` and ``comparable`` are shared with :mod:`service.validation.questionnaire`, which checks a
QuestionnaireResponse against these trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mappings.canonical import EXT_MAX_VALUE, EXT_MIN_VALUE

JSON = dict[str, Any]
ANSWER_TYPES: dict[str, tuple[str, ...]] = {
    "boolean": ("valueBoolean",), "decimal": ("valueDecimal",), "integer": ("valueInteger",),
    "date": ("valueDate",), "dateTime": ("valueDateTime",), "time": ("valueTime",),
    "string": ("valueString",), "text": ("valueString",), "url": ("valueUri",),
    "choice": ("valueCoding",), "open-choice": ("valueCoding", "valueString"),
    "attachment": ("valueAttachment",), "reference": ("valueReference",), "quantity": ("valueQuantity",),
}  # fmt: skip


def value_of(holder: Any, prefix: str = "value") -> tuple[str, Any] | None:
    """The (key, value) of a value[x] (or answer[x]) element of an object."""
    if type(holder) is dict:
        size = len(prefix)
        for key in holder:
            if key[:size] == prefix and key[size : size + 1].isupper():
                return key, holder[key]
    return None


def comparable(value: Any) -> Any:
    if isinstance(value, dict):
        if "code" in value:
            return (value.get("system"), value.get("code"))
        if "value" in value:
            return value["value"]
        return tuple(sorted(value.items()))
    return value


@dataclass(eq=False, slots=True)
class QItem:
    link: str
    kind: str
    required: bool
    repeats: bool
    allowed: tuple[str, ...] | None
    options: set[Any] | None = None
    open_text: bool = False
    value_set: str | None = None
    minimum: Any = None
    maximum: Any = None
    max_length: int | None = None
    text: str | None = None
    enable_when: list[tuple[str, str, Any]] = field(default_factory=list)
    enable_any: bool = False
    children: dict[str, tuple[int, QItem]] = field(default_factory=dict)


def compile_items(items: list[Any]) -> dict[str, tuple[int, QItem]]:
    compiled: dict[str, tuple[int, QItem]] = {}
    for index, raw in enumerate(items):
        if isinstance(raw, dict) and isinstance(raw.get("linkId"), str):
            compiled[raw["linkId"]] = (index, _compile_item(raw))
    return compiled


def _compile_item(raw: JSON) -> QItem:
    kind = str(raw.get("type"))
    allowed = ANSWER_TYPES.get(kind)
    found = [v for o in raw.get("answerOption") or [] if (v := value_of(o)) is not None]
    if allowed is not None and kind in ("choice", "open-choice"):
        allowed = tuple(sorted(set(allowed) | {k for k, _ in found}))
    item = QItem(raw["linkId"], kind, raw.get("required") is True, raw.get("repeats") is True, allowed)
    if found:
        item.options = {(k, comparable(v)) for k, v in found}
        item.open_text = kind == "open-choice"
    elif isinstance(raw.get("answerValueSet"), str):
        item.value_set = raw["answerValueSet"]
    for ext in raw.get("extension") or []:
        limit = value_of(ext) if isinstance(ext, dict) else None
        if limit is not None and ext.get("url") in (EXT_MIN_VALUE, EXT_MAX_VALUE):
            number = limit[1].get("value") if isinstance(limit[1], dict) else limit[1]
            if ext["url"] == EXT_MIN_VALUE:
                item.minimum = number
            else:
                item.maximum = number
    if isinstance(raw.get("text"), str):
        item.text = raw["text"]
    if isinstance(raw.get("maxLength"), int):
        item.max_length = raw["maxLength"]
    for condition in raw.get("enableWhen") or []:
        answer = value_of(condition, "answer")
        if isinstance(condition, dict) and answer is not None:
            value = answer[1] if condition.get("operator") == "exists" else comparable(answer[1])
            item.enable_when.append((str(condition.get("question")), str(condition.get("operator")), value))
    item.enable_any = raw.get("enableBehavior") == "any"
    item.children = compile_items(raw.get("item") or [])
    return item


def watched_links(items: dict[str, tuple[int, QItem]]) -> frozenset[str]:
    """The linkIds some enableWhen asks about (the only answers the enableWhen checks need)."""
    found: set[str] = set()
    for _, item in items.values():
        found.update(question for question, _, _ in item.enable_when)
        found |= watched_links(item.children)
    return frozenset(found)
