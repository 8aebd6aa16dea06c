"""A Questionnaire as a readable form: its items in order, with types, answer options, conditions and totals."""

from __future__ import annotations

from typing import Any

from service.guide.model import EXT, LINK_ID, SDC, Resource, show_value, summary

OPERATORS = {"=": "is", "!=": "is not", "exists": "exists", ">": ">", "<": "<", ">=": "≥", "<=": "≤"}


def _ext(item: Resource, url: str) -> Any:
    for ext in item.get("extension", []):
        if ext.get("url") == url:
            return next((v for k, v in ext.items() if k.startswith("value")), None)
    return None


def _answer(value_holder: Resource) -> str:
    value = next((v for k, v in value_holder.items() if k.startswith("value") or k.startswith("answer")), None)
    if isinstance(value, dict) and "code" in value:
        return str(value.get("display") or value["code"])
    return show_value(value)


def _options(item: Resource) -> list[dict[str, Any]]:
    options = []
    for option in item.get("answerOption", []):
        value = next((v for k, v in option.items() if k.startswith("value")), None)
        if isinstance(value, dict):
            ordinal = _ext(value, EXT + "ordinalValue")
            options.append({"display": value.get("display") or value.get("code"), "code": value.get("code"),
                            "system": value.get("system"), "score": ordinal})
        else:
            options.append({"display": show_value(value), "code": None, "system": None, "score": None})
    return options


def _conditions(item: Resource, texts: dict[str, str]) -> list[str]:
    shown = []
    for when in item.get("enableWhen", []):
        question = str(when.get("question"))
        operator = OPERATORS.get(str(when.get("operator")), str(when.get("operator")))
        shown.append(f"“{texts.get(question, question)}” ({question}) {operator} {_answer(when)}")
    return shown


def _calculation(item: Resource) -> dict[str, Any] | None:
    expression = _ext(item, SDC + "sdc-questionnaire-calculatedExpression")
    if not isinstance(expression, dict):
        return None
    text = str(expression.get("expression", ""))
    return {"expression": text, "from": list(dict.fromkeys(LINK_ID.findall(text)))}


def _range(item: Resource) -> str:
    low, high = _ext(item, EXT + "minValue"), _ext(item, EXT + "maxValue")
    unit = _ext(item, EXT + "questionnaire-unit")
    if low is None and high is None:
        return ""
    span = f"{'' if low is None else show_value(low)} to {'' if high is None else show_value(high)}".strip()
    return f"{span} {unit.get('code', '')}".strip() if isinstance(unit, dict) else span


def _item(item: Resource, depth: int, texts: dict[str, str]) -> dict[str, Any]:
    return {
        "link_id": item.get("linkId"), "text": item.get("text") or item.get("linkId"), "type": item.get("type"),
        "depth": depth, "required": bool(item.get("required")), "repeats": bool(item.get("repeats")),
        "read_only": bool(item.get("readOnly")), "options": _options(item), "range": _range(item),
        "codes": [f"{c.get('system')}|{c.get('code')}" for c in item.get("code", [])],
        "enable_when": _conditions(item, texts), "enable_behavior": item.get("enableBehavior"),
        "calculation": _calculation(item), "extracted": _ext(item, SDC + "sdc-questionnaire-observationExtract"),
    }


def _walk(items: list[Resource], depth: int = 0) -> list[tuple[Resource, int]]:
    flat: list[tuple[Resource, int]] = []
    for item in items:
        flat.append((item, depth))
        flat.extend(_walk(item.get("item", []), depth + 1))
    return flat


def questionnaire_view(questionnaire: Resource) -> dict[str, Any]:
    """Every item in document order (groups' children follow them, one level deeper)."""
    flat = _walk(questionnaire.get("item", []))
    texts = {str(i.get("linkId")): str(i.get("text") or i.get("linkId")) for i, _ in flat}
    return {"head": summary(questionnaire), "questions": [_item(i, d, texts) for i, d in flat]}
