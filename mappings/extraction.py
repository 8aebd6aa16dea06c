"""SDC observation-based extraction: QuestionnaireResponse -> Observations, driven by the Questionnaire.

Follows the SDC rules (hl7.fhir.uv.sdc, ``extraction.html``): an item is extracted when it has a
``code`` and ``observationExtract`` is true on the item, an ancestor or the Questionnaire; each answer
becomes one Observation with status ``final``, ``code`` = the item's codes, ``subject``/``encounter``/
``basedOn`` from the response, ``effectiveDateTime`` = ``authored``, ``performer`` = ``author``,
``derivedFrom`` = the response (and, for calculated totals, the Observations of their inputs), and a
``valueQuantity`` when the item has a ``questionnaire-unit``. Skipped questions produce nothing.
Observations whose code is an ETMI outcome kind claim that kind's profile and must be in its range.
A calculated total is extracted only when every one of its items is answered (never from partial
items) and when it equals its rule (``mappings.scoring``); answers to items that are not enabled
(``enableWhen``) are not extracted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mappings import canonical as c
from mappings import qtables, refs
from mappings.domain import AnswerValue
from mappings.enablement import disabled_links
from mappings.errors import Issue, MappingError
from mappings.outcome import KIND_BY_CODE, SURVEY, ObservationKind, check_value
from mappings.scoring import RULES, complete_scores

_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _extension(element: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in element.get("extension", []) if e.get("url") == url]


def _extract_flag(element: dict[str, Any], inherited: bool) -> bool:
    flags = _extension(element, c.EXT_OBSERVATION_EXTRACT)
    return bool(flags[0].get("valueBoolean")) if flags else inherited


def _extractable(questionnaire: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(items: list[dict[str, Any]], inherited: bool) -> None:
        for item in items:
            flag = _extract_flag(item, inherited)
            if flag and item.get("code") and item.get("type") != "group":
                found[item["linkId"]] = item
            walk(item.get("item", []), flag)

    walk(questionnaire.get("item", []), _extract_flag(questionnaire, False))
    return found


def extractable_items(questionnaire: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """linkId -> item for every coded item whose (inherited) observationExtract flag is true."""
    return {link: spec.item for link, spec in _extract_table(questionnaire).items()}


@dataclass(frozen=True)
class _Extract:
    """What extraction reads of one extractable item, looked up once per Questionnaire."""

    item: dict[str, Any]
    units: list[dict[str, Any]]  # its questionnaire-unit extensions
    categories: list[dict[str, Any]]  # its observation-extract-category extensions
    kind: ObservationKind | None  # the ETMI outcome kind of its first code that is one


def _extract_table(questionnaire: dict[str, Any]) -> dict[str, _Extract]:
    return qtables.derived(questionnaire, "extraction.items", lambda q: {
        link: _Extract(item, _extension(item, c.EXT_QUESTIONNAIRE_UNIT),
                       _extension(item, c.EXT_OBSERVATION_EXTRACT_CATEGORY), _kind(item))
        for link, item in _extractable(q).items()})


def _value(units: list[dict[str, Any]], answer: dict[str, Any], link: str, index: int) -> dict[str, Any]:
    for key, value in answer.items():
        if key in ("valueInteger", "valueDecimal"):
            if units:
                unit = units[0]["valueCoding"]
                return {"valueQuantity": {"value": value, "unit": unit["code"], "system": unit["system"],
                                          "code": unit["code"]}}
            return {"valueInteger": value} if key == "valueInteger" else {"valueQuantity": {"value": value}}
        if key == "valueCoding":
            return {"valueCodeableConcept": {"coding": [value]}}
        if key in ("valueBoolean", "valueString", "valueDateTime", "valueQuantity"):
            return {key: value}
        if key == "valueDate":
            return {"valueDateTime": value}
    raise MappingError([Issue("error", "not-supported", "answer type cannot become an Observation value",
                              _answer_path(link, index))])


def _answer_path(link: str, index: int) -> str:
    return f"QuestionnaireResponse.item.where(linkId='{link}').answer[{index}]"


def _kind(item: dict[str, Any]) -> ObservationKind | None:
    for cd in item.get("code", []):
        kind = KIND_BY_CODE.get((cd.get("system"), cd.get("code")))
        if kind is not None:
            return kind
    return None


def _kind_issues(kind: ObservationKind | None, value: dict[str, Any], link: str, index: int) -> list[Issue]:
    if kind is None:
        return []
    raw = value.get("valueQuantity", {}).get("value") if kind.unit else \
        value.get("valueCodeableConcept", {}).get("coding", [{}])[0].get("code")
    if not check_value(kind, raw, ""):  # the path is written only for an issue
        return []
    return check_value(kind, raw, _answer_path(link, index))


def _answers(qr: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    found: list[tuple[str, int, dict[str, Any]]] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if "answer" in item:
                for i, answer in enumerate(item["answer"]):
                    found.append((item["linkId"], i, answer))
                    if "item" in answer:
                        walk(answer["item"])
            if "item" in item:
                walk(item["item"])

    walk(qr.get("item", []))
    return found


@dataclass(frozen=True, slots=True)
class _Head:
    """What every Observation of a response takes from it, read once (when the first one is built)."""

    ident: str
    based_on: Any  # the response's basedOn (shared), None when it has none
    subject: Any
    encounter: Any  # _NONE: no encounter
    authored: Any
    issued: bool
    performer: Any  # _NONE: no author
    derived: str


_NONE = object()


def _head(qr: dict[str, Any]) -> _Head:
    ident = qr["identifier"]["value"]
    based_on = qr["basedOn"] if qr.get("basedOn") else None
    subject = qr["subject"]
    encounter = qr.get("encounter", _NONE)
    return _Head(ident, based_on, subject, encounter, qr["authored"], bool(_INSTANT.match(qr["authored"])),
                 qr.get("author", _NONE), f"QuestionnaireResponse/{qr['id']}")


def _observation(head: _Head, spec: _Extract, index: int, value: dict[str, Any]) -> dict[str, Any]:
    """The Observation of one answer (its value checked by ``_value`` and ``_kind_issues``)."""
    item = spec.item
    link = item["linkId"]
    suffix = (link,) if index == 0 else (link, index)
    profile = spec.kind.profile if spec.kind is not None else None
    obs = refs.base_resource("Observation", refs.identifier(head.ident, *suffix), profile)
    if head.based_on is not None:
        obs["basedOn"] = head.based_on
    obs["status"] = "final"
    obs["category"] = [e["valueCodeableConcept"] for e in spec.categories] or [SURVEY]
    obs["code"] = {"coding": item["code"]}
    obs["subject"] = head.subject
    if head.encounter is not _NONE:
        obs["encounter"] = head.encounter
    obs["effectiveDateTime"] = head.authored
    if head.issued:
        obs["issued"] = head.authored
    if head.performer is not _NONE:
        obs["performer"] = [head.performer]
    obs.update(value)
    obs["derivedFrom"] = [{"reference": head.derived}]
    return obs


def _plain(answer: dict[str, Any]) -> AnswerValue | None:
    for key, value in answer.items():
        if key == "valueCoding":
            return str(value.get("code"))
        if key == "valueQuantity":
            return value.get("value")  # type: ignore[no-any-return]
        if key.startswith("value") and isinstance(value, (int, float, bool, str)):
            return value
    return None


def _answer_map(found: list[tuple[str, int, dict[str, Any]]]) -> dict[str, tuple[AnswerValue, ...]]:
    values: dict[str, list[AnswerValue]] = {}
    for link, _, answer in found:
        if len(answer) == 1 and "valueCoding" in answer and answer["valueCoding"].__class__ is dict:
            value: AnswerValue | None = str(answer["valueCoding"].get("code"))  # most answers: _plain's first case
        else:
            value = _plain(answer)
        if value is not None:
            kept = values.get(link)
            if kept is None:
                values[link] = [value]
            else:
                kept.append(value)
    return {k: tuple(v) for k, v in values.items()}


def answer_map(qr: dict[str, Any]) -> dict[str, tuple[AnswerValue, ...]]:
    """linkId -> the plain answer values (option codes, numbers, ...) a response holds."""
    return _answer_map(_answers(qr))


def _totals_to_drop(answers: dict[str, tuple[AnswerValue, ...]], questionnaire: dict[str, Any],
                    disabled: set[str]) -> set[str]:
    """Totals that must not become Observations (partial items); raises when a total contradicts its items."""
    completed, issues = complete_scores(answers, questionnaire, disabled)
    if issues:
        raise MappingError([Issue(i.severity, i.code, i.diagnostics, i.expression.replace(
            "answers.", "QuestionnaireResponse.item.where(linkId='", 1) + "')") for i in issues])
    return {t for t in RULES if t in answers and t not in completed}


def extract_observations(qr: dict[str, Any], questionnaire: dict[str, Any]) -> list[dict[str, Any]]:
    """The Observations that observation-based extraction of ``qr`` produces, inputs before totals."""
    items = _extract_table(questionnaire)
    found = _answers(qr)
    answers = _answer_map(found)
    disabled = disabled_links(answers, questionnaire)
    skipped = disabled | _totals_to_drop(answers, questionnaire, disabled)
    by_link: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    issues: list[Issue] = []
    head = None
    for link, index, answer in found:
        if link not in items or link in skipped:
            continue
        spec = items[link]
        try:
            value = _value(spec.units, answer, spec.item["linkId"], index)
            kind_issues = _kind_issues(spec.kind, value, spec.item["linkId"], index)
        except MappingError as err:
            issues.extend(err.issues)
            continue
        if kind_issues:
            issues.extend(kind_issues)
            continue
        if head is None:
            head = _head(qr)
        obs = _observation(head, spec, index, value)
        by_link.setdefault(link, obs)
        out.append(obs)
    if issues:
        raise MappingError(issues)
    for total, (_, inputs) in RULES.items():
        if total in by_link:
            by_link[total]["derivedFrom"] += [{"reference": f"Observation/{by_link[i]['id']}"}
                                              for i in inputs if i in by_link]
    # totals after the Observations they are derived from (referential integrity on write)
    totals = {id(by_link[t]) for t in RULES if t in by_link}
    return [o for o in out if id(o) not in totals] + [o for o in out if id(o) in totals]
