"""Answers <-> QuestionnaireResponse (profile etmi-questionnaireresponse), driven by the Questionnaire.

The Questionnaire definitions are data in ``profiles/`` (etmi-intake, etmi-session, etmi-outcome);
the caller passes the Questionnaire resource, so this module never reads files. The response mirrors
the Questionnaire's group structure and pins ``questionnaire`` to ``url|version``. Answers to items
that are not enabled (``enableWhen``) are refused, and the calculated totals are computed only from
complete items (``mappings.scoring``).
"""

from __future__ import annotations

from typing import Any

from mappings import canonical as c
from mappings import qtables, refs
from mappings.careplan import careplan_identifier
from mappings.domain import AnswerValue, Episode, QuestionnaireAnswers, QuestionnaireKind
from mappings.enablement import decide
from mappings.errors import Issue, MappingError
from mappings.scoring import complete_scores

QUESTIONNAIRE_URLS: dict[QuestionnaireKind, str] = {
    "intake": c.ETMI_Q_INTAKE, "session": c.ETMI_Q_SESSION, "outcome": c.ETMI_Q_OUTCOME,
}


def questionnaire_kind(url: str) -> QuestionnaireKind | None:
    """Which ETMI Questionnaire a canonical URL (without ``|version``) names, if any."""
    return next((k for k, u in QUESTIONNAIRE_URLS.items() if u == url), None)


def questionnaire_canonical(questionnaire: dict[str, Any]) -> str:
    return f"{questionnaire['url']}|{questionnaire['version']}"


def response_identifier(episode_id: str, response_id: str) -> dict[str, str]:
    return refs.identifier(episode_id, "qr", response_id)


def _unit(item: dict[str, Any]) -> dict[str, Any] | None:
    for ext in item.get("extension", []):
        if ext.get("url") == c.EXT_QUESTIONNAIRE_UNIT:
            coding: dict[str, Any] = ext["valueCoding"]
            return coding
    return None


_CHECKS: dict[str, tuple[str, tuple[type, ...]]] = {
    "boolean": ("valueBoolean", (bool,)), "integer": ("valueInteger", (int,)),
    "decimal": ("valueDecimal", (int, float)), "string": ("valueString", (str,)),
    "text": ("valueString", (str,)), "date": ("valueDate", (str,)), "dateTime": ("valueDateTime", (str,)),
}


def answer_to_fhir(item: dict[str, Any], value: AnswerValue, path: str) -> dict[str, Any]:
    """One answer value -> ``QuestionnaireResponse.item.answer`` for the item's type."""
    kind = item.get("type")
    if kind in ("choice", "open-choice"):
        for option in item.get("answerOption", []):
            if option.get("valueCoding", {}).get("code") == value:
                coding = {k: v for k, v in option["valueCoding"].items() if k != "extension"}
                return {"valueCoding": coding}
        if kind == "open-choice" and isinstance(value, str):
            return {"valueString": value}
        codes = ", ".join(str(o.get("valueCoding", {}).get("code")) for o in item.get("answerOption", []))
        raise MappingError([Issue("error", "code-invalid", f"{value!r} is not an answer option of {item['linkId']} "
                                  f"(options: {codes})", path)])
    if kind not in _CHECKS:
        raise MappingError([Issue("error", "not-supported", f"item type {kind!r} cannot be answered", path)])
    element, types = _CHECKS[kind]
    if not isinstance(value, types) or (kind != "boolean" and isinstance(value, bool)):
        raise MappingError([Issue("error", "value", f"{item['linkId']} expects a {kind} answer, got {value!r}", path)])
    return {element: value}


Codings = dict[int, dict[str, dict[str, Any]]]


def _codings(questionnaire: dict[str, Any]) -> Codings:
    """id() of a choice item -> option code (a string) -> its first option's Coding without extensions (the
    items are kept alive with the Questionnaire by ``qtables``)."""
    table: Codings = {}
    for node in qtables.tables(questionnaire).nodes:
        if node.item.get("type") in ("choice", "open-choice"):
            options = table.setdefault(id(node.item), {})
            for option in node.item.get("answerOption", []):
                code = option.get("valueCoding", {}).get("code")
                if isinstance(code, str) and code not in options:
                    options[code] = {k: v for k, v in option["valueCoding"].items() if k != "extension"}
    return table


def _items(q_items: list[dict[str, Any]], answers: dict[str, tuple[AnswerValue, ...]], issues: list[Issue],
           codings: Codings) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in q_items:
        if item.get("type") == "group":
            children = _items(item.get("item", []), answers, issues, codings)
            if children:
                out.append({"linkId": item["linkId"], "item": children})
            continue
        values = answers.get(item["linkId"])
        if not values:
            continue
        rendered = []
        options = codings.get(id(item), {})
        for i, v in enumerate(values):
            if isinstance(v, str) and v in options:  # a chosen option: a new copy of its Coding
                rendered.append({"valueCoding": dict(options[v])})
                continue
            try:
                rendered.append(answer_to_fhir(item, v, f"answers.{item['linkId']}[{i}]"))
            except MappingError as err:
                issues.extend(err.issues)
        made = {"linkId": item["linkId"]}
        if "text" in item:
            made["text"] = item["text"]
        made["answer"] = rendered
        out.append(made)
    return out


def answers_to_questionnaire_response(
    response: QuestionnaireAnswers, episode: Episode, questionnaire: dict[str, Any]
) -> dict[str, Any]:
    known = qtables.tables(questionnaire).items
    given = response.answer_map()
    issues = [Issue("error", "not-found", f"{link} is not an item of {questionnaire.get('url')}", f"answers.{link}")
              for link in given if link not in known]
    enabled, disabled, off = decide(given, questionnaire)
    answers, score_issues = complete_scores(enabled, questionnaire, off)
    issues += disabled + score_issues
    codings = qtables.derived(questionnaire, "questionnaire.codings", _codings)
    items = _items(questionnaire.get("item", []), answers, issues, codings)
    if issues:
        raise MappingError(issues)
    ident = response_identifier(episode.episode_id, response.response_id)
    qr = refs.base_resource("QuestionnaireResponse", ident, c.ETMI_SD_QUESTIONNAIRE_RESPONSE)
    qr["identifier"] = ident  # R4: QuestionnaireResponse.identifier is 0..1
    qr.update({
        "basedOn": [refs.reference("CarePlan", careplan_identifier(episode))],
        "questionnaire": questionnaire_canonical(questionnaire),
        "status": response.status,
        "subject": refs.patient_reference(episode.patient),
        "authored": response.authored,
        "item": items,
    })
    return qr


def _answer_value(answer: dict[str, Any]) -> AnswerValue:
    for key, value in answer.items():
        if key == "valueCoding":
            return str(value["code"])
        if key == "valueQuantity":
            return value["value"]  # type: ignore[no-any-return]
        if key.startswith("value"):
            return value  # type: ignore[no-any-return]
    raise MappingError([Issue("error", "required", "answer has no value", "QuestionnaireResponse.item.answer")])


def questionnaire_response_to_answers(qr: dict[str, Any]) -> QuestionnaireAnswers:
    """A QuestionnaireResponse (ours or an EHR's copy) -> the answers it holds, by linkId."""
    url = str(qr.get("questionnaire", "")).split("|")[0]
    kind = questionnaire_kind(url)
    parts = refs.local_part(qr, "qr")
    if kind is None or parts is None:
        raise MappingError([Issue("error", "not-supported", "not an ETMI QuestionnaireResponse "
                                  f"(questionnaire {url!r})", "QuestionnaireResponse.questionnaire")])
    answers: list[tuple[str, tuple[AnswerValue, ...]]] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if item.get("answer"):
                answers.append((item["linkId"], tuple(_answer_value(a) for a in item["answer"])))
            walk(item.get("item", []))

    walk(qr.get("item", []))
    return QuestionnaireAnswers(response_id=parts[1], questionnaire=kind, authored=qr["authored"],
                                answers=tuple(answers), status=qr.get("status", "completed"))
