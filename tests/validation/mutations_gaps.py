"""Single-defect mutations for the validator gaps a differential fuzz against HAPI and HL7's own test
cases showed (issue 10, item 11), with sibling cases the general fix covers. ``test_mutations.py``
runs them with its other cases: each must be rejected with an error at the expression given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]
Mutation = Callable[[JSON], Any]
EXT = "http://hl7.org/fhir/StructureDefinition/"


def _with(**changes: Any) -> Mutation:
    """Sets top-level keys (a value of None deletes the key)."""

    def mutate(resource: JSON) -> None:
        for key, value in changes.items():
            if value is None:
                resource.pop(key, None)
            else:
                resource[key] = value

    return mutate


def _item_enable_when(questionnaire: JSON) -> None:
    """Two enableWhen conditions on the first item that has one, and no enableBehavior (que-12)."""
    for item in questionnaire["item"]:
        if item.get("enableWhen"):
            item["enableWhen"] = [item["enableWhen"][0], dict(item["enableWhen"][0])]
            item.pop("enableBehavior", None)
            return
    raise AssertionError("the test Questionnaire has no enableWhen")


def _vital_sign(observation: JSON) -> None:
    """A heart-rate LOINC code added to the code: R4 then requires the heartrate profile (category
    vital-signs, a value in /min), which this Observation does not meet."""
    observation["code"]["coding"].append({"system": "http://loinc.org", "code": "8867-4"})


def _bundle_entry(mutate: Mutation, index: int = 1) -> Mutation:
    def apply(bundle: JSON) -> None:
        mutate(bundle["entry"][index]["resource"])

    return apply


def _second_self_link(bundle: JSON) -> None:
    bundle["link"].append(dict(bundle["link"][0]))


GAP_CASES: list[tuple[str, str, Mutation, str, str]] = [
    # --- malformed urn:oid: / urn:uuid: (every uri, url, canonical and Reference.reference) ---
    (
        "urn-oid-identifier-system",
        "Patient",
        lambda r: r["identifier"][0].update(system="urn:oid:1.2.3.x"),
        "Patient.identifier[0].system",
        "urn:oid:",
    ),
    (
        "urn-oid-leading-zero",
        "Patient",
        lambda r: r["identifier"][0].update(system="urn:oid:1.02.3"),
        "Patient.identifier[0].system",
        "urn:oid:",
    ),
    (
        "urn-uuid-short",
        "Patient",
        lambda r: r["identifier"][0].update(system="urn:uuid:6cd97d2a-b267-5dc0-be89"),
        "Patient.identifier[0].system",
        "urn:uuid:",
    ),
    (
        "bare-oid-prefix",
        "Patient",
        lambda r: r["identifier"][0].update(system="oid:1.2.3"),
        "Patient.identifier[0].system",
        "urn:oid:",
    ),
    (
        "urn-uuid-reference",
        "Observation",
        lambda r: r.update(subject={"reference": "urn:uuid:not-a-uuid"}),
        "Observation.subject.reference",
        "urn:uuid:",
    ),
    (
        "urn-uuid-fullurl",
        "Bundle",
        lambda r: r["entry"][1].update(fullUrl="urn:uuid:1301"),
        "Bundle.entry[1].fullUrl",
        "urn:uuid:",
    ),
    # --- R4 vital-signs profiles apply by code ---
    ("vital-signs-code", "Observation", _vital_sign, "Observation.category", "VSCat"),
    # --- que-12 as its text says: more than one enableWhen needs enableBehavior ---
    ("que-12-two-enable-when", "Questionnaire", _item_enable_when, "Questionnaire.item[3]", "que-12"),
    # --- per-1 with mixed precision: FHIRPath's comparison is empty, so the invariant fails ---
    (
        "per-1-mixed-precision-same-day",
        "CarePlan",
        _with(period={"start": "2024-08-01", "end": "2024-08-01T06:20:00Z"}),
        "CarePlan.period",
        "per-1",
    ),
    (
        "per-1-mixed-precision-start-later",
        "CarePlan",
        _with(period={"start": "2024-08-01T10:00:00+02:00", "end": "2024-08"}),
        "CarePlan.period",
        "per-1",
    ),
    # --- an extension outside its declared context, or in the wrong kind of slot ---
    (
        "extension-context-resource",
        "Observation",
        _with(extension=[{"url": EXT + "patient-birthTime", "valueDateTime": "2024-05-02T09:00:00Z"}]),
        "Observation.extension[0]",
        "not allowed to be used at this point",
    ),
    (
        "extension-context-element",
        "Patient",
        lambda r: r["name"][0].update(extension=[{"url": EXT + "humanname-mothers-family", "valueString": "X"}]),
        "Patient.name[0].extension[0]",
        "not allowed to be used at this point",
    ),
    (
        "extension-context-primitive",
        "Patient",
        _with(_gender={"extension": [{"url": EXT + "patient-birthTime", "valueDateTime": "2024-05-02T09:00:00Z"}]}),
        "Patient._gender.extension[0]",
        "not allowed to be used at this point",
    ),
    (
        "modifier-extension-as-extension",
        "Condition",
        _with(extension=[{"url": EXT + "request-doNotPerform", "valueBoolean": True}]),
        "Condition.extension[0]",
        "modifierExtension",
    ),
    (
        "extension-as-modifier-extension",
        "Patient",
        _with(modifierExtension=[{"url": EXT + "patient-birthTime", "valueDateTime": "2024-05-02T09:00:00Z"}]),
        "Patient.modifierExtension[0]",
        "not a modifier",
    ),
    (
        "relative-url-top-level-extension",
        "Patient",
        _with(extension=[{"url": "ombCategory", "valueString": "x"}]),
        "Patient.extension[0].url",
        "absolute",
    ),
    # --- no _ part on what is not an Element (Resource.id, Element.id, Extension.url) ---
    (
        "extension-on-resource-id",
        "Patient",
        _with(_id={"extension": [{"url": "http://example.org/x", "valueString": "y"}]}),
        "Patient._id",
        "not an Element",
    ),
    (
        "extension-on-element-id",
        "Patient",
        lambda r: r["name"][0].update(
            id="n1", _id={"extension": [{"url": "http://example.org/x", "valueString": "y"}]}
        ),
        "Patient.name[0]._id",
        "not an Element",
    ),
    (
        "extension-on-bundle-entry-resource-id",
        "Bundle",
        _bundle_entry(_with(_id={"id": "x"})),
        "Bundle.entry[1].resource._id",
        "not an Element",
    ),
    # --- Bundle: the self and paging links occur once ---
    ("bundle-two-self-links", "Bundle", _second_self_link, "Bundle.link[1]", "only occur once"),
    # --- #id references resolve in the entry's own resource, not in another entry ---
    (
        "bundle-contained-in-other-entry",
        "Bundle",
        lambda b: (
            b["entry"][0]["resource"].update(contained=[{"resourceType": "Practitioner", "id": "pr1"}]),
            b["entry"][1]["resource"].update(performer=[{"reference": "#pr1"}]),
        ),
        "Bundle.entry[1].resource.performer[0]",
        "ref-1",
    ),
]
