"""Mutation suite: each valid HAPI-style resource passes; each single-defect mutation is rejected
with an error at the expected expression."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mappings import canonical as c
from service.validation import Engine
from tests.validation import fixtures
from tests.validation.mutation_tools import _absent, _del, _set
from tests.validation.mutations_gaps import GAP_CASES
from tests.validation.mutations_resources import RESOURCE_CASES

JSON = dict[str, Any]
Mutation = Callable[[JSON], Any]


def errors(outcome: JSON) -> list[tuple[str, str, str]]:
    return [
        (i["expression"][0], i["code"], i["diagnostics"])
        for i in outcome["issue"]
        if i["severity"] in ("error", "fatal")
    ]


@pytest.mark.parametrize("name", [*fixtures.BUILDERS, "Bundle"])
def test_valid_hapi_style_resources_pass(engine: Engine, name: str) -> None:
    outcome = engine.validate(fixtures.fresh(name))
    assert errors(outcome) == []


CASES: list[tuple[str, str, Mutation, str, str]] = [
    # (id, resource, mutation, expected expression, expected fragment of the diagnostics)
    ("obs-missing-status", "Observation", _del("status"), "Observation.status", "minimum required"),
    ("obs-missing-code", "Observation", _del("code"), "Observation.code", "minimum required"),
    ("obs-status-binding", "Observation", _set("status", "bogus"), "Observation.status", "not in the value set"),
    ("obs-status-number", "Observation", _set("status", 1), "Observation.status", "JSON string"),
    (
        "obs-decimal-as-string",
        "Observation",
        _set("valueQuantity.value", "6"),
        "Observation.valueQuantity.value",
        "JSON number",
    ),
    (
        "obs-bad-date",
        "Observation",
        _set("effectiveDateTime", "2024-13-01"),
        "Observation.effectiveDateTime",
        "not a valid dateTime",
    ),
    (
        "obs-time-without-zone",
        "Observation",
        _set("effectiveDateTime", "2024-05-02T09:00:00"),
        "Observation.effectiveDateTime",
        "not a valid dateTime",
    ),
    (
        "obs-feb-30",
        "Observation",
        _set("effectiveDateTime", "2024-02-30"),
        "Observation.effectiveDateTime",
        "no such day",
    ),
    ("obs-bad-instant", "Observation", _set("issued", "2024-05-02"), "Observation.issued", "not a valid instant"),
    ("obs-empty-string", "Observation", _set("code.text", ""), "Observation.code.text", "empty"),
    ("obs-empty-array", "Observation", _set("note", []), "Observation.note", "must not be empty"),
    ("obs-null", "Observation", _set("issued", None), "Observation.issued", "null"),
    ("obs-unknown-element", "Observation", _set("colour", "red"), "Observation.colour", "Unknown element"),
    ("obs-two-values", "Observation", _set("valueString", "6"), "Observation.valueString", "not allowed"),
    ("obs-object-not-array", "Observation", _set("category", {"text": "survey"}), "Observation.category", "JSON array"),
    ("obs-array-not-object", "Observation", _set("code", [{"text": "x"}]), "Observation.code", "not be an array"),
    ("obs-ele-1", "Observation", _set("code.coding.0", {}), "Observation.code.coding[0]", "ele-1"),
    ("obs-ele-1-id-only", "Observation", _set("note.0", {"id": "n1"}), "Observation.note[0]", "ele-1"),
    (
        "obs-subject-target",
        "Observation",
        _set("subject.reference", "Questionnaire/1"),
        "Observation.subject.reference",
        "not a valid target",
    ),
    (
        "obs-subject-r4b-only-target",
        "Observation",
        _set("subject.reference", "Organization/1"),
        "Observation.subject.reference",
        "not a valid target",
    ),
    (
        "obs-bad-reference",
        "Observation",
        _set("subject.reference", "Patient 1"),
        "Observation.subject.reference",
        "Invalid",
    ),
    ("obs-ucum-unit", "Observation", _set("valueQuantity.code", "kg"), "Observation.valueQuantity.code", "pattern"),
    (
        "goal-ucum-invalid",
        "Goal",
        _set("target.0.detailQuantity.code", "minutes/week"),
        "Goal.target[0].detailQuantity.code",
        "not a valid UCUM unit",
    ),
    (
        "obs-status-absent-reason-only",
        "Observation",
        _absent("status"),
        "Observation.status",
        "No code provided",
    ),
    (
        "obs-identifier-system-relative",
        "Observation",
        _set("identifier.0.system", "x"),
        "Observation.identifier[0].system",
        "absolute",
    ),
    (
        "obs-quantity-system-relative",
        "Observation",
        _set("valueQuantity.system", "units"),
        "Observation.valueQuantity.system",
        "absolute",
    ),
    (
        "qr-questionnaire-relative",
        "QuestionnaireResponse",
        _set("questionnaire", "Questionnaire/validation-test"),
        "QuestionnaireResponse.questionnaire",
        "absolute",
    ),
    (
        "obs-meta-profile-relative",
        "Observation",
        _set("meta.profile", ["x"]),
        "Observation.meta.profile[0]",
        "absolute",
    ),
    (
        "procedure-extension-url-relative",
        "Procedure",
        _set("extension.1.url", "component"),
        "Procedure.extension[1].url",
        "absolute",
    ),
    ("questionnaire-url-relative", "Questionnaire", _set("url", "validation-test"), "Questionnaire.url", "absolute"),
    (
        "questionnaire-enablewhen-unknown",
        "Questionnaire",
        _set("item.3.enableWhen.0.question", "q99"),
        "Questionnaire.item[3]",
        "Unable to find an item",
    ),
    ("obs-code-pattern", "Observation", _set("code.coding.0.code", "72514-4"), "Observation.code", "pattern"),
    ("obs-category-slice", "Observation", _set("category.0.coding.0.code", "exam"), "Observation.category", "survey"),
    ("obs-qty-3", "Observation", _del("valueQuantity.system"), "Observation.valueQuantity.system", "minimum required"),
    ("obs-score-out-of-range", "Observation", _set("valueQuantity.value", 11), "Observation", "etmi-range-0-10"),
    ("obs-score-negative", "Observation", _set("valueQuantity.value", -0.5), "Observation", "etmi-range-0-10"),
    ("obs-status-profile", "Observation", _set("status", "preliminary"), "Observation", "etmi-obs-status"),
    ("obs-missing-identifier-profile", "Observation", _del("identifier"), "Observation.identifier", "minimum required"),
    (
        "obs-unit-system-profile",
        "Observation",
        _set("valueQuantity.system", "http://example.org/units"),
        "Observation.valueQuantity.system",
        "pattern",
    ),
    ("goal-target-out-of-range", "Goal", _set("target.0.detailQuantity.value", 5000), "Goal", "range"),
    (
        "obs-comparator-forbidden",
        "Observation",
        _set("valueQuantity.comparator", "<"),
        "Observation.valueQuantity.comparator",
        "max allowed",
    ),
    ("obs-id-too-long", "Observation", _set("id", "x" * 65), "Observation.id", "not a valid id"),
    ("obs-id-bad-char", "Observation", _set("id", "a_b"), "Observation.id", "not a valid id"),
    (
        "obs-profile-meta-profile",
        "Observation",
        _set("meta.profile", [c.ETMI_SD_GOAL]),
        "Observation.meta.profile",
        "is for Goal",
    ),
    ("obs-wrong-resource-type", "Observation", _set("resourceType", "Observatio"), "Observatio", "Unknown resource"),
    ("obs-dar-and-value", "Observation", _set("dataAbsentReason", {"text": "unknown"}), "Observation", "obs-6"),
    (
        "obs-narrative-script",
        "Observation",
        _set("text.div", '<div xmlns="http://www.w3.org/1999/xhtml"><script>x()</script></div>'),
        "Observation.text",
        "txt-1",
    ),
    ("obs-narrative-not-xhtml", "Observation", _set("text.div", "<div>plain</div>"), "Observation.text", "txt-1"),
    (
        "obs-meta-lastupdated-no-zone",
        "Observation",
        _set("meta.lastUpdated", "2024-05-02T09:14:03.512"),
        "Observation.meta.lastUpdated",
        "not a valid instant",
    ),
    *RESOURCE_CASES,  # Patient, Goal, CarePlan, Procedure, Condition, Questionnaire(Response)
    (
        "bundle-entry-defect",
        "Bundle",
        _set("entry.1.resource.status", "bogus"),
        "Bundle.entry[1].resource.status",
        "not in the value set",
    ),
    (
        "bundle-search-match-type",
        "Bundle",
        _set("entry.1.search.mode", "match"),
        "Bundle.entry[1].resource",
        "not a matching resource type",
    ),
    (
        "bundle-fullurl-relative",
        "Bundle",
        _set("entry.1.fullUrl", "Observation/1301"),
        "Bundle.entry[1].fullUrl",
        "absolute",
    ),
    (
        "bundle-fullurl-id",
        "Bundle",
        _set("entry.1.fullUrl", "http://localhost:8080/fhir/Observation/9"),
        "Bundle.entry[1].fullUrl",
        "must end with /Observation/1301",
    ),
    ("bundle-type", "Bundle", _set("type", "list"), "Bundle.type", "not in the value set"),
    ("bundle-bdl-1", "Bundle", _set("type", "collection"), "Bundle", "bdl-1"),
    (
        "bundle-entry-unknown",
        "Bundle",
        _set("entry.0.resource.nickname", "P"),
        "Bundle.entry[0].resource.nickname",
        "Unknown element",
    ),
    *GAP_CASES,  # the gaps of issue 10, item 11, and their siblings
]


@pytest.mark.parametrize(
    ("name", "mutate", "expression", "fragment"), [pytest.param(*case[1:], id=case[0]) for case in CASES]
)
def test_single_defect_is_rejected(engine: Engine, name: str, mutate: Mutation, expression: str, fragment: str) -> None:
    resource = fixtures.fresh(name)
    mutate(resource)
    found = errors(engine.validate(resource))
    assert any(expr == expression and fragment in message for expr, _, message in found), found


def test_every_resource_type_has_mutations() -> None:
    covered = {case[1] for case in CASES}
    assert covered >= {*fixtures.BUILDERS, "Bundle"}


def test_fhirpathpy_runs_every_invariant_of_the_valid_resources() -> None:
    """No invariant is silently skipped: fhirpathpy evaluated all of them on the valid fixtures."""
    from service.validation import invariants

    invariants.FAILURES.clear()
    engine = Engine()  # fresh: nothing cached
    engine.add(fixtures.questionnaire())
    for name in [*fixtures.BUILDERS, "Bundle"]:
        engine.validate(fixtures.fresh(name))
    assert invariants.FAILURES == {}
