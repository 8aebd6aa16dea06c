"""The text of FHIR values in generated narratives (``mappings.narrative``): concepts, quantities, value[x],
periods, identifiers, answers, and HTML escaping. Standard library only, deterministic; the key tables kept
here hold key names only."""

from __future__ import annotations

from typing import Any


def escape_html(text: str) -> str:
    """``html.escape(text)``: its five replacements, each made only when the character occurs (most texts have
    none: looking for a character costs less than replacing it)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "'" in text:
        text = text.replace("'", "&#x27;")
    return text


def concept(value: Any) -> str:
    """A CodeableConcept (or Coding) as text: its text, else each coding's display (or code)."""
    if not isinstance(value, dict):
        return ""
    if value.get("text"):
        return str(value["text"])
    if "coding" not in value:  # a Coding
        return str(value.get("display") or value.get("code") or "")
    codings = value["coding"]
    if isinstance(codings, list) and len(codings) == 1 and isinstance(codings[0], dict):
        return str(codings[0].get("display") or codings[0].get("code") or "")
    shown = [str(cd.get("display") or cd.get("code") or "") for cd in codings or [] if isinstance(cd, dict)]
    return ", ".join(s for s in shown if s)


def concepts(values: Any) -> str:
    return "; ".join(s for s in (concept(v) for v in values or []) if s) if isinstance(values, list) else ""


def quantity(value: Any) -> str:
    """``value unit`` of a Quantity (the unit as the resource gives it, e.g. ``{score}`` or ``min/wk``)."""
    if not isinstance(value, dict) or "value" not in value:
        return ""
    unit = value.get("unit") or value.get("code") or ""
    number = value["value"]  # an int or a float formats as str() gives it, without the call
    return f"{number if number.__class__ in (int, float) else number_text(number)} {unit}".strip()


def number_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def value_x(element: dict[str, Any], prefix: str = "value", keys: tuple[str, ...] | None = None) -> str:
    """The text of a choice element ``value[x]`` (Quantity, CodeableConcept, Coding, Range, primitives);
    ``keys``: ``choice_keys(prefix, element)`` when the caller has them."""
    start = len(prefix)
    for key in choice_keys(prefix, element) if keys is None else keys:
        value, kind = element[key], key[start:]
        if kind == "Quantity":
            return quantity(value)
        if kind in ("CodeableConcept", "Coding"):
            return concept(value)
        if kind == "Range":
            return f"{quantity(value.get('low'))} to {quantity(value.get('high'))}".strip()
        if kind == "Period":
            return period(value)
        if kind == "Reference":
            return str(value.get("display") or "")
        if not isinstance(value, (dict, list)):
            return number_text(value)
    return ""


_CHOICE_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {}


def choice_keys(prefix: str, element: dict[str, Any]) -> tuple[str, ...]:
    """The keys of ``element`` that are ``prefix`` + a type name, in order; found once per set of keys (most
    resources of a type have the same keys) and kept for the last few thousand sets seen (key names only)."""
    shape = (prefix, *element)
    keys = _CHOICE_KEYS.get(shape)
    if keys is None:
        start = len(prefix)
        keys = tuple(k for k in element if k.startswith(prefix) and k[start:start + 1].isupper())
        if len(_CHOICE_KEYS) >= 4096:
            _CHOICE_KEYS.clear()
        _CHOICE_KEYS[shape] = keys
    return keys


_OBSERVATION_KEYS: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def observation_keys(r: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``choice_keys`` of an Observation for value[x] and effective[x], found once per set of keys."""
    shape = tuple(r)
    keys = _OBSERVATION_KEYS.get(shape)
    if keys is None:
        keys = (choice_keys("value", r), choice_keys("effective", r))
        if len(_OBSERVATION_KEYS) >= 4096:
            _OBSERVATION_KEYS.clear()
        _OBSERVATION_KEYS[shape] = keys
    return keys


def period(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    return " to ".join(str(value[k]) for k in ("start", "end") if value.get(k))


def identifiers(resource: dict[str, Any]) -> str:
    idents = resource.get("identifier")
    idents = [idents] if isinstance(idents, dict) else idents or []
    return ", ".join(str(i.get("value")) for i in idents if isinstance(i, dict) and i.get("value"))


#: value[x] of an answer whose text is the value itself (``value_x`` of a primitive).
_PRIMITIVE_ANSWERS = frozenset({"valueBoolean", "valueDecimal", "valueInteger", "valueDate", "valueDateTime",
                                "valueTime", "valueString", "valueUri"})


def answer_text(answer: dict[str, Any]) -> str:
    """``value_x(answer)``, an answer of one coding or one primitive value without looking for its key."""
    if len(answer) == 1:
        for key, value in answer.items():
            if key == "valueCoding":
                return concept(value)
            if key in _PRIMITIVE_ANSWERS and value.__class__ in (str, int, float, bool):
                return str(value).lower() if value.__class__ is bool else str(value)
    return value_x(answer)
