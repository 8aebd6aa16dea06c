"""Generated narratives (``Resource.text``) for every resource the service sends, so an EHR that shows
narrative shows ETMI data without any app (issue 14, item 4).

``with_narrative(resource)`` returns a copy with ``text = {"status": "generated", "div": ...}``; a resource
that already has a narrative (the CarePlan builds its own) keeps it. The div is XHTML that satisfies the
FHIR narrative rules: only basic formatting elements (``p``, ``b``, ``ul``, ``li``), no attributes other
than the XHTML namespace, some text (txt-1, txt-2); so ``dom-6`` ("a resource should have narrative") is
met. Every value is escaped with ``html.escape``. The text says only what the resource itself holds
(codes' displays, values with their units, dates, statuses, identifiers): no names are looked up or
added. Standard library only, deterministic (the golden files hold the output).
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from mappings import canonical as c

XHTML = "http://www.w3.org/1999/xhtml"
Row = tuple[str, str]


def with_narrative(resource: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``resource`` with a generated narrative where R4 puts it (after id, meta, implicitRules and
    language); a resource that already has a narrative (the CarePlan builds its own) is returned as it is."""
    text = resource.get("text")
    if isinstance(text, dict) and text.get("div"):
        return resource
    if "text" not in resource:  # the usual case: the keys before text lead (in every resource the mappings make)
        out: dict[str, Any] = {}
        placed = False
        for key, value in resource.items():
            if not placed:
                if key in _BEFORE_TEXT:
                    out[key] = value
                    continue
                out["text"] = None  # its place; the narrative is made from ``resource`` below
                placed = True
            elif key in _BEFORE_TEXT:  # one after other keys: placed by the general case below
                break
            out[key] = value
        else:
            out["text"] = narrative(resource)
            return out
    keys = [k for k in resource if k != "text"]
    anchor = 0  # after the last of the keys that come before text
    for i, key in enumerate(keys):
        if key in _BEFORE_TEXT:
            anchor = i + 1
    out = {k: resource[k] for k in keys[:anchor]}
    out["text"] = narrative(resource)
    for key in keys[anchor:]:
        out[key] = resource[key]
    return out


_BEFORE_TEXT = frozenset({"resourceType", "id", "meta", "implicitRules", "language"})


def narrative(resource: dict[str, Any]) -> dict[str, str]:
    """The generated Narrative of one resource."""
    rtype = resource.get("resourceType", "Resource")
    heading, rows = _BUILDERS.get(rtype if rtype.__class__ is str else str(rtype), _generic)(resource)
    pieces = [heading]
    for label, value in rows:
        if value:
            pieces.append(f"{label}{_COLON}{value}")
    text = _ROW.join(pieces)
    shown = len(pieces) - 1
    if text.count(_ROW) == shown and text.count(_COLON) == shown:  # no marker in the text itself
        # html.escape maps each character on its own, so escaping the joined text escapes every piece at once
        head, _, items = _escape(text).partition(_ROW)
        body = f"<p><b>{head}</b></p>" + (f"<ul><li>{items.replace(_ROW, '</li><li>').replace(_COLON, ': ')}</li></ul>"
                                          if shown else "")
    else:
        items = "".join(f"<li>{escape(label)}: {escape(value)}</li>" for label, value in rows if value)
        body = f"<p><b>{escape(heading)}</b></p>" + (f"<ul>{items}</ul>" if items else "")
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{body}</div>'}


def _escape(text: str) -> str:
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


_ROW, _COLON = "\x01", "\x02"  # markers between the pieces of a narrative, left alone by html.escape


# -- values ------------------------------------------------------------------------------------------
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
    return f"{number if number.__class__ in (int, float) else _number(number)} {unit}".strip()


def _number(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def value_x(element: dict[str, Any], prefix: str = "value", keys: tuple[str, ...] | None = None) -> str:
    """The text of a choice element ``value[x]`` (Quantity, CodeableConcept, Coding, Range, primitives);
    ``keys``: ``_choice_keys(prefix, element)`` when the caller has them."""
    start = len(prefix)
    for key in _choice_keys(prefix, element) if keys is None else keys:
        value, kind = element[key], key[start:]
        if kind == "Quantity":
            return quantity(value)
        if kind in ("CodeableConcept", "Coding"):
            return concept(value)
        if kind == "Range":
            return f"{quantity(value.get('low'))} to {quantity(value.get('high'))}".strip()
        if kind == "Period":
            return _period(value)
        if kind == "Reference":
            return str(value.get("display") or "")
        if not isinstance(value, (dict, list)):
            return _number(value)
    return ""


_CHOICE_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _choice_keys(prefix: str, element: dict[str, Any]) -> tuple[str, ...]:
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


def _observation_keys(r: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``_choice_keys`` of an Observation for value[x] and effective[x], found once per set of keys."""
    shape = tuple(r)
    keys = _OBSERVATION_KEYS.get(shape)
    if keys is None:
        keys = (_choice_keys("value", r), _choice_keys("effective", r))
        if len(_OBSERVATION_KEYS) >= 4096:
            _OBSERVATION_KEYS.clear()
        _OBSERVATION_KEYS[shape] = keys
    return keys


def _period(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    return " to ".join(str(value[k]) for k in ("start", "end") if value.get(k))


def _identifiers(resource: dict[str, Any]) -> str:
    idents = resource.get("identifier")
    idents = [idents] if isinstance(idents, dict) else idents or []
    return ", ".join(str(i.get("value")) for i in idents if isinstance(i, dict) and i.get("value"))


# -- resource types ----------------------------------------------------------------------------------
Built = tuple[str, list[Row]]


def _patient(r: dict[str, Any]) -> Built:
    return "Patient", [("Identifier", _identifiers(r))]


def _condition(r: dict[str, Any]) -> Built:
    return concept(r.get("code")) or "Condition", [
        ("Clinical status", concept(r.get("clinicalStatus"))),
        ("Verification status", concept(r.get("verificationStatus"))),
        ("Category", concepts(r.get("category"))),
        ("Onset", value_x(r, "onset")),
        ("Evidence", "; ".join(concepts(e.get("code")) for e in r.get("evidence", []) if isinstance(e, dict))),
        ("Recorded", str(r.get("recordedDate") or "")),
    ]


def _goal(r: dict[str, Any]) -> Built:
    rows: list[Row] = [("Status", str(r.get("lifecycleStatus") or "")),
                       ("Achievement", concept(r.get("achievementStatus"))),
                       ("Start", str(r.get("startDate") or ""))]
    for target in r.get("target", []):
        detail = value_x(target, "detail")
        due = f" by {target['dueDate']}" if target.get("dueDate") else ""
        rows.append(("Target", f"{concept(target.get('measure'))}: {detail}{due}".strip(": ")))
    return concept(r.get("description")) or "Goal", rows


def _careplan(r: dict[str, Any]) -> Built:
    acts = "; ".join(f"{concept(a.get('detail', {}).get('code'))} ({a.get('detail', {}).get('status')})"
                     for a in r.get("activity", []) if isinstance(a, dict))
    return str(r.get("title") or "Care plan"), [("Status", str(r.get("status") or "")),
                                                 ("Period", _period(r.get("period"))), ("Activities", acts)]


def _procedure(r: dict[str, Any]) -> Built:
    number, numbered, components = None, False, []  # the first session number; every component, in order
    for e in r.get("extension", []):
        if isinstance(e, dict):
            url = e.get("url")
            if url == c.ETMI_EXT_SESSION_NUMBER and not numbered:
                number, numbered = e.get("valuePositiveInt"), True
            elif url == c.ETMI_EXT_SESSION_COMPONENT:
                components.append(concept(e.get("valueCodeableConcept")))
    heading = concept(r.get("code")) or "Procedure"
    return heading, [("Session", "" if number is None else str(number)), ("Status", str(r.get("status") or "")),
                     ("Performed", value_x(r, "performed")), ("Category", concept(r.get("category"))),
                     ("Components", "; ".join(components))]


def _observation(r: dict[str, Any]) -> Built:
    values, effective = _observation_keys(r)
    rows: list[Row] = [("Value", value_x(r, "value", values)), ("Status", str(r.get("status") or "")),
                       ("Effective", value_x(r, "effective", effective)),
                       ("Interpretation", concepts(r.get("interpretation")))]
    rows += [(concept(comp.get("code")) or "Component", value_x(comp)) for comp in r.get("component", [])
             if isinstance(comp, dict)]
    return concept(r.get("code")) or "Observation", rows


def _answers(items: Any) -> list[Row]:
    rows: list[Row] = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        label = str(item.get("text") or item.get("linkId") or "")
        given = item.get("answer")
        if given.__class__ is list and len(given) == 1 and given[0].__class__ is dict:  # most items: one answer
            answers = given
            shown = _answer_text(given[0])
        else:
            answers = [a for a in item.get("answer", []) if isinstance(a, dict)]
            shown = value_x(answers[0]) if len(answers) == 1 else ", ".join([value_x(a) for a in answers])
        rows.append((label, shown))  # a group (no answer) is left out
        if "item" in item:
            rows += _answers(item["item"])
        for a in answers:
            if "item" in a:
                rows += _answers(a["item"])
    return rows


#: value[x] of an answer whose text is the value itself (``value_x`` of a primitive).
_PRIMITIVE_ANSWERS = frozenset({"valueBoolean", "valueDecimal", "valueInteger", "valueDate", "valueDateTime",
                                "valueTime", "valueString", "valueUri"})


def _answer_text(answer: dict[str, Any]) -> str:
    """``value_x(answer)``, an answer of one coding or one primitive value without looking for its key."""
    if len(answer) == 1:
        for key, value in answer.items():
            if key == "valueCoding":
                return concept(value)
            if key in _PRIMITIVE_ANSWERS and value.__class__ in (str, int, float, bool):
                return str(value).lower() if value.__class__ is bool else str(value)
    return value_x(answer)


def _questionnaire_response(r: dict[str, Any]) -> Built:
    heading = f"Questionnaire response ({r.get('questionnaire', 'questionnaire not given')})"
    return heading, [("Status", str(r.get("status") or "")), ("Authored", str(r.get("authored") or "")),
                     *_answers(r.get("item"))]


def _provenance(r: dict[str, Any]) -> Built:
    agents = "; ".join(" ".join(x for x in (str((a.get("who") or {}).get("display") or ""),
                                             f"({concept(a.get('type'))})" if a.get("type") else "") if x)
                       for a in r.get("agent", []) if isinstance(a, dict))
    return "Provenance", [("Recorded", str(r.get("recorded") or "")), ("Activity", concept(r.get("activity"))),
                          ("Resources", str(len(r.get("target", [])))), ("Agents", agents),
                          ("Sources", str(len(r.get("entity", []))) if r.get("entity") else "")]


def _generic(r: dict[str, Any]) -> Built:
    return str(r.get("resourceType", "Resource")), [("Status", str(r.get("status") or "")),
                                                    ("Identifier", _identifiers(r))]


_BUILDERS: dict[str, Callable[[dict[str, Any]], Built]] = {
    "Patient": _patient, "Condition": _condition, "Goal": _goal, "CarePlan": _careplan, "Procedure": _procedure,
    "Observation": _observation, "QuestionnaireResponse": _questionnaire_response, "Provenance": _provenance,
}
