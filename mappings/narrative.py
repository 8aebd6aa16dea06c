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
from mappings.texts import (
    answer_text,
    concept,
    concepts,
    escape_html,
    identifiers,
    observation_keys,
    period,
    value_x,
)

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
        head, _, items = escape_html(text).partition(_ROW)
        body = f"<p><b>{head}</b></p>" + (f"<ul><li>{items.replace(_ROW, '</li><li>').replace(_COLON, ': ')}</li></ul>"
                                          if shown else "")
    else:
        items = "".join(f"<li>{escape(label)}: {escape(value)}</li>" for label, value in rows if value)
        body = f"<p><b>{escape(heading)}</b></p>" + (f"<ul>{items}</ul>" if items else "")
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{body}</div>'}


_ROW, _COLON = "\x01", "\x02"  # markers between the pieces of a narrative, left alone by html.escape


# -- resource types ----------------------------------------------------------------------------------
Built = tuple[str, list[Row]]


def _patient(r: dict[str, Any]) -> Built:
    return "Patient", [("Identifier", identifiers(r))]


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
                                                 ("Period", period(r.get("period"))), ("Activities", acts)]


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
    values, effective = observation_keys(r)
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
            shown = answer_text(given[0])
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
                                                    ("Identifier", identifiers(r))]


_BUILDERS: dict[str, Callable[[dict[str, Any]], Built]] = {
    "Patient": _patient, "Condition": _condition, "Goal": _goal, "CarePlan": _careplan, "Procedure": _procedure,
    "Observation": _observation, "QuestionnaireResponse": _questionnaire_response, "Provenance": _provenance,
}
