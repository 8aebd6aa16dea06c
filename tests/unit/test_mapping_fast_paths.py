"""Session 20's fast paths of the mapping (bench/profiles/mapping.md) give exactly what the plain code gave.

Each test compares a fast path with the straightforward implementation it replaced, kept here as the
reference: the Bundle's reference rewrite (classes told apart first, dicts of primitive elements not entered,
the QuestionnaireResponse items episode_resources vouches for not walked) against the plain recursive rewrite,
enableWhen decided in one pass, chosen options' ordinals, ids and UUIDs, and extraction's Observations (the
response's parts read once) against their issues' paths. Narratives: test_mapping_narrative_fast_paths.py.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections import OrderedDict
from typing import Any

import orjson
import pytest

from mappings import canonical as c
from mappings import enablement, qtables, refs, scoring
from mappings.bundle import FLAT_KEYS, NO_REFERENCE_INSIDE, Resources, _rewrite, episode_resources, transaction_bundle
from mappings.enablement import disabled_links, enabled_answers
from mappings.errors import MappingError
from mappings.extraction import extract_observations
from mappings.payload import episode_from_json
from service.ig import load_package
from service.synthetic import synthetic_episode
from tests.unit.test_mapping_speed_equivalence import random_answers, random_form, walk_disabled, walk_enabled


class Text(str):
    """A str subclass: the rewrite still replaces it as a reference."""


def plain_rewrite(value: Any, local: dict[str, str], flat: frozenset[str] = FLAT_KEYS) -> Any:
    """The rewrite as it was before the classes were told apart (isinstance only), not entering a dict of
    ``flat`` keys (below the resource)."""
    if isinstance(value, dict):
        if value.keys() <= flat and "resourceType" not in value:
            return value
        out = None
        for key, item in value.items():
            if isinstance(item, str):
                if key != "reference" or (new := local.get(item, item)) is item:
                    continue
            elif key in NO_REFERENCE_INSIDE or not isinstance(item, (dict, list)) \
                    or (new := plain_rewrite(item, local, flat)) is item:
                continue
            if out is None:
                out = dict(value)
            out[key] = new
        return value if out is None else out
    if isinstance(value, list):
        changed = None
        for i, item in enumerate(value):
            if isinstance(item, (dict, list)) and (new := plain_rewrite(item, local, flat)) is not item:
                if changed is None:
                    changed = list(value)
                changed[i] = new
        return value if changed is None else changed
    return value


def random_json(rng: random.Random, depth: int) -> Any:
    refs = ["Patient/1", "Goal/2", "Other/3", Text("Patient/1"), "x"]
    kind = rng.random()
    if depth > 3 or kind < 0.3:
        return rng.choice([1, 2.5, True, None, "s", *refs])
    keys = ["reference", "subject", "item", "answer", *sorted(NO_REFERENCE_INSIDE)[:4], "value", "system"]
    if kind < 0.65:
        made: dict[str, Any] = {k: random_json(rng, depth + 1) for k in rng.sample(keys, rng.randrange(1, 5))}
        return OrderedDict(made) if rng.random() < 0.1 else made
    values = [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return (type("Items", (list,), {})(values)) if rng.random() < 0.1 else values


@pytest.mark.parametrize("seed", range(200))
def test_the_rewrite_replaces_as_the_plain_walk(seed: int) -> None:
    rng = random.Random(seed)
    local = {"Patient/1": "urn:uuid:1", "Goal/2": "urn:uuid:2"}
    resource = {"resourceType": "Observation", **{f"k{i}": random_json(rng, 0) for i in range(4)},
                "reference": rng.choice(["Patient/1", Text("Goal/2"), "x"])}
    before = orjson.dumps(resource, option=orjson.OPT_PASSTHROUGH_SUBCLASS, default=repr)
    fast, plain = _rewrite(resource, local), plain_rewrite(resource, local)
    assert fast == plain
    assert orjson.dumps(resource, option=orjson.OPT_PASSTHROUGH_SUBCLASS, default=repr) == before  # not changed


def test_dicts_of_primitive_elements_hold_no_reference_in_mapped_episodes() -> None:
    """FLAT_KEYS is the R4 rule (elements that are primitives wherever they occur); the mapped resources of
    synthetic episodes are rewritten the same without it."""
    questionnaires = load_package().questionnaires()
    for i in range(30):
        resources = episode_resources(episode_from_json(synthetic_episode(i)), questionnaires)
        local = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:{r['id']}" for r in resources}
        for resource in resources:
            assert _rewrite(resource, local) == plain_rewrite(resource, local, frozenset())


def test_an_observation_value_out_of_range_is_named_by_its_answer() -> None:
    """The issue's path is written only for an issue, as it was for each answer."""
    intake = load_package().questionnaires()["intake"]
    answers: list[dict[str, Any]] = [{"valueInteger": 3}, {"valueInteger": 12}]
    qr: dict[str, Any] = {
          "resourceType": "QuestionnaireResponse", "id": "q", "identifier": {"system": "s", "value": "E/qr/1"},
          "subject": {"reference": "Patient/p"}, "authored": "2026-01-05", "status": "completed",
          "item": [{"linkId": "pain", "item": [{"linkId": "pain.nrs", "answer": answers}]}]}
    with pytest.raises(MappingError) as err:
        extract_observations(qr, intake)
    assert [i.expression for i in err.value.issues] == ["QuestionnaireResponse.item.where(linkId='pain.nrs').answer[1]"]
    assert "between 0 and 10" in err.value.issues[0].diagnostics
    answers.pop()
    [obs] = extract_observations(qr, intake)
    assert (obs["effectiveDateTime"], "issued" in obs, obs["derivedFrom"]) == (
        "2026-01-05", False, [{"reference": "QuestionnaireResponse/q"}])
    assert list(obs) == ["resourceType", "id", "meta", "identifier", "status", "category", "code", "subject",
                         "effectiveDateTime", "valueQuantity", "derivedFrom"]


def ordered_form(rng: random.Random) -> dict[str, Any]:
    """A random nested form whose enableWhen ask only about earlier items (and unknown ones)."""
    form = random_form(rng)
    links = [n.link for n in qtables.tables(form).nodes]
    for i, node in enumerate(qtables.tables(form).nodes):
        for condition in node.item.get("enableWhen", []):
            condition["question"] = rng.choice([*links[:i], "unknown"])
    return copy.deepcopy(form)  # a new object: tables of its final content


@pytest.mark.parametrize("seed", range(300))
def test_one_pass_decides_as_the_recursive_walk_when_enablewhen_looks_back(seed: int) -> None:
    rng = random.Random(seed)
    form, answers = ordered_form(rng), random_answers(rng)
    assert enablement._ordered(form)
    kept, issues = walk_enabled(answers, form)
    assert enabled_answers(answers, form) == (kept, issues)
    assert disabled_links(answers, form) == walk_disabled(answers, form)
    assert enablement.decide(answers, form) == (kept, issues, walk_disabled(kept, form))


@pytest.mark.parametrize("seed", range(300))
def test_decide_gives_the_two_calls_on_any_form(seed: int) -> None:
    rng = random.Random(seed)
    form, answers = random_form(rng), random_answers(rng)
    kept, issues = walk_enabled(answers, form)
    assert enablement.decide(answers, form) == (kept, issues, walk_disabled(kept, form))


def test_the_etmi_questionnaires_are_decided_in_one_pass() -> None:
    assert all(enablement._ordered(q) for q in load_package().questionnaires().values())
    assert not enablement._ordered({"item": [{"linkId": "a", "enableWhen": [{"question": "b", "operator": "exists",
                                                                             "answerBoolean": True}]},
                                             {"linkId": "b"}]})


@pytest.mark.parametrize("seed", range(100))
def test_item_scores_as_item_score_of_each_item(seed: int) -> None:
    """Chosen options' ordinals kept per Questionnaire give what item_score reads from the item."""
    rng = random.Random(seed)
    intake = load_package().questionnaires()["intake"]
    items = qtables.tables(intake).items
    for total, (_, inputs) in scoring.RULES.items():
        answers: dict[str, tuple[Any, ...]] = {}
        for link in inputs:
            codes = [o["valueCoding"]["code"] for o in items[link].get("answerOption", [])]
            choice = rng.choice([*codes, "not-an-option", 3, 2.5, True, None])
            if choice is not None:
                answers[link] = (choice,)
        expected = {i: s for i in inputs if answers.get(i) and (s := scoring.item_score(items[i], answers[i][0]))
                    is not None}
        assert scoring._item_scores(intake, inputs, answers) == expected, total


@pytest.mark.parametrize("version", [4, 5])
def test_uuids_from_digests_as_the_uuid_module(version: int) -> None:
    rng = random.Random(version)
    for _ in range(2000):
        digest = rng.randbytes(rng.choice([16, 20, 32]))
        assert refs._as_uuid(digest, str(version)) == str(uuid.UUID(bytes=digest[:16], version=version))


def _walk_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_walk_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_walk_keys(v) for v in value))
    return set()


def test_the_bundle_of_mapped_resources_is_the_bundle_of_a_plain_list() -> None:
    """The QuestionnaireResponse items episode_resources vouches for hold no Reference: not walking them
    changes nothing."""
    questionnaires = load_package().questionnaires()
    for i in range(40):
        resources = episode_resources(episode_from_json(synthetic_episode(i)), questionnaires)
        assert isinstance(resources, Resources) and len(resources.opaque) == sum(
            r["resourceType"] == "QuestionnaireResponse" for r in resources) > 0
        for resource in resources:
            if resource["resourceType"] == "QuestionnaireResponse":
                assert "reference" not in _walk_keys(resource["item"])
        assert orjson.dumps(transaction_bundle(resources)) == orjson.dumps(transaction_bundle(list(resources)))


def test_a_resource_replaced_in_the_list_is_walked() -> None:
    resources = episode_resources(episode_from_json(synthetic_episode(1)), load_package().questionnaires())
    i, qr = next((i, r) for i, r in enumerate(resources) if r["resourceType"] == "QuestionnaireResponse")
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    changed = copy.deepcopy(qr)
    changed["item"].append({"linkId": "x", "answer": [{"valueReference": {"reference": f"Patient/{patient['id']}"}}]})
    resources[i] = changed
    entry = transaction_bundle(resources)["entry"][i]["resource"]
    assert entry["item"][-1]["answer"][0]["valueReference"] == {"reference": f"urn:uuid:{patient['id']}"}
    assert type(copy.deepcopy(resources)) is list and type(copy.copy(resources)) is list
    assert type(resources[:]) is list and copy.deepcopy(resources) == resources


def test_ids_kept_and_cleared_are_the_uuid_modules() -> None:
    """Ids are kept for the last 4,096 identifiers: past that the table starts again, with the same ids."""
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, c.BASE)
    for round_ in range(2):
        for i in range(5000):
            ident = refs.identifier("EP-9", "goal", i, Text("x"))
            assert ident["value"] == f"EP-9/goal/{i}/x" and len(refs._IDS) <= 4096
            assert refs.resource_id(ident) == str(uuid.uuid5(namespace, f"{ident['system']}|{ident['value']}")), round_
