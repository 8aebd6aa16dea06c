"""The mapping's fast paths (issue 16, bench/profiles/mapping.md) give exactly what the plain code gave.

Each test compares a fast path with the straightforward implementation it replaced (kept here as the
reference): enableWhen decided per Questionnaire table against the recursive walk, the one-call escaping of
narratives against escaping each piece, the percent-encoding of conditional queries against ``urllib``, the
UUIDs against ``uuid``; and the per-Questionnaire tables are per object (a changed copy gets its own).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import random
import uuid
from html import escape
from typing import Any
from urllib.parse import quote

import pytest

from mappings import canonical as c
from mappings import narrative, qtables, refs
from mappings.bundle import conditional_query
from mappings.domain import PatientRef
from mappings.enablement import describe, disabled_links, enabled_answers, is_enabled
from mappings.errors import Issue
from mappings.scoring import complete_scores
from service.ig import load_package

Answers = dict[str, tuple[Any, ...]]


def walk_enabled(answers: Answers, questionnaire: dict[str, Any]) -> tuple[Answers, list[Issue]]:
    """The recursive walk that enablement.enabled_answers replaced."""
    kept = dict(answers)
    issues: list[Issue] = []

    def walk(items: list[dict[str, Any]], parent_enabled: bool) -> None:
        for item in items:
            link = item["linkId"]
            on = parent_enabled and is_enabled(item, kept)
            if not on and link in kept:
                del kept[link]
                why = f"it is asked only when {describe(item)}" if item.get("enableWhen") else "its group is not asked"
                issues.append(Issue("error", "business-rule", f"{link} is answered but not enabled: {why}",
                                    f"answers.{link}"))
            walk(item.get("item", []), on)

    walk(questionnaire.get("item", []), True)
    return kept, issues


def walk_disabled(answers: Answers, questionnaire: dict[str, Any]) -> set[str]:
    kept, _ = walk_enabled(answers, questionnaire)
    found: set[str] = set()

    def walk(items: list[dict[str, Any]], parent_enabled: bool) -> None:
        for item in items:
            on = parent_enabled and is_enabled(item, kept)
            if not on:
                found.add(item["linkId"])
            walk(item.get("item", []), on)

    walk(questionnaire.get("item", []), True)
    return found


def random_form(rng: random.Random) -> dict[str, Any]:
    """Nested groups and questions, enableWhen on earlier and later items, every operator, any/all."""
    links = [f"q{i}" for i in range(12)]
    ops = ["=", "!=", ">", "<", ">=", "<=", "exists", "bogus"]

    def condition() -> dict[str, Any]:
        op = rng.choice(ops)
        kind = rng.choice(["answerBoolean", "answerInteger", "answerCoding", "answerString"])
        value: Any = {"answerBoolean": rng.random() < 0.5, "answerInteger": rng.randrange(4),
                      "answerCoding": {"code": rng.choice("abc")}, "answerString": rng.choice("abc")}[kind]
        return {"question": rng.choice(links), "operator": op, kind: value}

    def item(i: int, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {"linkId": links[i], "type": "group" if depth < 2 and rng.random() < 0.3 else "string"}
        if rng.random() < 0.5:
            out["enableWhen"] = [condition() for _ in range(rng.randrange(1, 3))]
            if rng.random() < 0.5:
                out["enableBehavior"] = rng.choice(["any", "all"])
        return out

    top: list[dict[str, Any]] = []
    stack = [top]
    for i in range(len(links)):
        node = item(i, len(stack) - 1)
        stack[-1].append(node)
        if node["type"] == "group":
            node["item"] = []
            stack.append(node["item"])
        elif len(stack) > 1 and rng.random() < 0.4:
            stack.pop()
    return {"resourceType": "Questionnaire", "item": top}


def random_answers(rng: random.Random) -> Answers:
    values = [True, False, 0, 1, 2, 3, 1.5, "a", "b", "c"]
    return {f"q{i}": tuple(rng.choice(values) for _ in range(rng.randrange(1, 3)))
            for i in range(12) if rng.random() < 0.6}


@pytest.mark.parametrize("seed", range(300))
def test_enablement_decides_as_the_recursive_walk(seed: int) -> None:
    rng = random.Random(seed)
    form, answers = random_form(rng), random_answers(rng)
    assert enabled_answers(answers, form) == walk_enabled(answers, form)
    assert disabled_links(answers, form) == walk_disabled(answers, form)


def test_the_etmi_questionnaires_decide_as_the_recursive_walk() -> None:
    intake = load_package().questionnaires()["intake"]
    for employed in (True, False):
        answers: Answers = {"work.employed": (employed,), "fabq.w6": (3,), "fabq.pa2": (1,)}
        assert enabled_answers(answers, intake) == walk_enabled(answers, intake)
        assert disabled_links(answers, intake) == walk_disabled(answers, intake)


def test_tables_belong_to_one_questionnaire_object() -> None:
    """A changed copy is another object with its own tables; the same object keeps its tables."""
    intake = load_package().questionnaires()["intake"]
    assert qtables.tables(intake) is qtables.tables(intake)
    changed = copy.deepcopy(intake)
    total = next(n.item for n in qtables.tables(changed).nodes if n.link == "phq2.total")
    total["linkId"] = "phq2.total-renamed"  # changed before this copy is given to a mapping
    answers: Answers = {"phq2.q1": ("LA6569-3",), "phq2.q2": ("LA6569-3",)}
    assert complete_scores(answers, intake)[0]["phq2.total"] == (2,)
    assert "phq2.total" not in complete_scores(answers, copy.deepcopy(changed))[0]


def old_narrative_div(heading: str, rows: list[tuple[str, str]]) -> str:
    items = "".join(f"<li>{escape(label)}: {escape(value)}</li>" for label, value in rows if value)
    body = f"<p><b>{escape(heading)}</b></p>" + (f"<ul>{items}</ul>" if items else "")
    return f'<div xmlns="{narrative.XHTML}">{body}</div>'


@pytest.mark.parametrize("text", ["plain", "a & b < c > d \"e\" 'f'", "marker \x01 in text", "\x02: colon marker",
                                  "", "x\x01\x02y"])
def test_narratives_escape_every_piece_as_html_escape_does(text: str) -> None:
    resource = {"resourceType": "Goal", "lifecycleStatus": text, "startDate": "2026-01-05",
                "description": {"text": f"walk {text}"}, "target": [{"measure": {"text": text}, "detailString": text}]}
    heading, rows = narrative._goal(resource)
    assert narrative.narrative(resource)["div"] == old_narrative_div(heading, rows)


def test_a_narrative_with_no_rows_has_no_list() -> None:
    resource = {"resourceType": "Goal"}
    assert narrative.narrative(resource)["div"] == old_narrative_div("Goal", narrative._goal(resource)[1])


@pytest.mark.parametrize("seed", range(20))
def test_conditional_queries_encode_as_urllib(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "aZ09_.~/-:|% é?&=+#"
    for _ in range(200):
        system = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        value = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        query = conditional_query({"identifier": [{"system": system, "value": value}]})
        assert query == f"identifier={quote(system, safe=':/')}|{quote(value, safe='')}"


def test_ids_are_the_uuids_of_the_uuid_module() -> None:
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, c.BASE)
    for value in ("EP-1/goal/walk", "é/ü", "", "x" * 100):
        ident = refs.identifier(*value.split("/"))
        assert refs.resource_id(ident) == str(uuid.uuid5(namespace, f"{ident['system']}|{ident['value']}"))


def test_the_patient_id_follows_the_key_of_each_patient_ref() -> None:
    """Kept on the PatientRef instance: another key (a new instance, ``in_context``) gets its own id."""
    key_a, key_b = b"a" * 16, b"b" * 16
    first, second = PatientRef("urn:sys", "MRN-1", key_a), PatientRef("urn:sys", "MRN-1", key_b)
    for patient, key in ((first, key_a), (second, key_b), (first, key_a)):
        digest = hmac.new(key, b"urn:sys|MRN-1", hashlib.sha256).digest()
        assert refs.patient_id(patient) == str(uuid.UUID(bytes=digest[:16], version=4))
    assert first == second and "MRN-1" not in repr(vars(first).get("_fhir_id"))
