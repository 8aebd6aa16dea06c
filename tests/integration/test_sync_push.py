"""Push against the real FHIR servers (HAPI JPA and Medplum) through the real SQLite outbox.

Episodes go out as (chunked) transaction Bundles of conditional entries with one Provenance per
chunk; a second push of the same data creates nothing; local edits go out with If-Match; a request
the target refuses is dead-lettered with the target's OperationOutcome.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from service.adapters.fhir_client import FhirClient
from service.sync.targets import Target
from tests.sync.support import (
    drain,
    enqueue_bundle,
    enqueue_resource,
    episode_bundle,
    episode_resources,
    first_of,
    identifier_query,
    new_store,
    pusher,
    target_for,
    unique_episode,
)


def matches(client: FhirClient, resource: dict[str, Any]) -> list[dict[str, Any]]:
    name, value = identifier_query(resource).split("=", 1)
    return list(client.search(resource["resourceType"], {name: unquote(value)}))


def test_episode_push_writes_each_resource_once_with_provenance(ehr: Target, tmp_path: Path) -> None:
    store = new_store(tmp_path)
    payload = unique_episode(2)
    resources = episode_resources(payload)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    enqueue_bundle(store, episode_bundle(payload), "p1", "episode-again")
    reports = drain(pusher(store, [ehr]))
    assert store.outbox.counts() == {"sent": 2}, [r.errors for r in reports]
    client = FhirClient(ehr.base_url)
    for resource in resources:
        found = matches(client, resource)
        assert len(found) == 1, f"{resource['resourceType']} {identifier_query(resource)}: {len(found)} copies"

    careplan = matches(client, first_of(resources, "CarePlan"))[0]
    assert careplan["subject"]["reference"].startswith("Patient/")
    provenances = {p["id"]: p for r in resources for m in matches(client, r)
                   for p in client.search("Provenance", {"target": f"{m['resourceType']}/{m['id']}"})}
    assert provenances, "every chunk of writes carries a Provenance"
    assert {p["agent"][0]["who"]["identifier"]["value"] for p in provenances.values()} == {"etmi-fhir-sync"}
    # a chunk names the answers already on the target as its source (the first chunks precede them)
    sources = [e["what"]["reference"] for p in provenances.values() for e in p.get("entity", [])]
    assert sources and all(s.startswith("QuestionnaireResponse/") for s in sources)


def test_local_goal_edit_goes_out_with_if_match(ehr: Target, tmp_path: Path) -> None:
    store = new_store(tmp_path)
    payload = unique_episode(3)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    drain(pusher(store, [ehr]))
    goal = copy.deepcopy(first_of(episode_resources(payload), "Goal"))
    remote_id, version = store.id_map.get(ehr.name, "Goal", goal["id"]) or ("", None)
    assert version, "the id map keeps the target's versionId"
    goal["description"] = {"text": "Walk briskly 30 minutes, 5 days a week"}
    enqueue_resource(store, goal, "p1")
    reports = drain(pusher(store, [ehr]))
    assert store.outbox.counts() == {"sent": 2}, [r.errors for r in reports]
    stored = FhirClient(ehr.base_url).read("Goal", remote_id).body or {}
    assert stored["description"]["text"] == "Walk briskly 30 minutes, 5 days a week"
    new = store.id_map.get(ehr.name, "Goal", goal["id"])
    assert new is not None and new[0] == remote_id and new[1] == stored["meta"]["versionId"] != version


@pytest.mark.hapi
def test_refused_write_is_dead_lettered_with_the_targets_outcome(hapi_url: str, tmp_path: Path) -> None:
    """HAPI refuses an invalid code. (Medplum's wrapper accepts it inside multi-entry transactions.)"""
    store = new_store(tmp_path)
    ehr = target_for(hapi_url, "hapi")
    payload = unique_episode(4)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    drain(pusher(store, [ehr]))
    obs = copy.deepcopy(first_of(episode_resources(payload), "Observation"))
    obs["id"] = obs["id"][:-4] + "beef"
    obs["identifier"][0]["value"] += "-bad"
    obs["status"] = "banana"
    enqueue_resource(store, obs, "p1", operation="create")
    reports = drain(pusher(store, [ehr]))
    assert store.outbox.counts() == {"sent": 1, "dead": 1}
    assert reports[0].dead == 1 and "HTTP 400" in reports[0].errors[0]
    assert "banana" in reports[0].errors[0], "the dead letter carries the target's OperationOutcome"


def test_ambiguous_conditional_write_is_dead_lettered_not_duplicated(ehr: Target, tmp_path: Path) -> None:
    """Two resources with the same business identifier on the EHR: 412, dead-lettered, nothing added."""
    store = new_store(tmp_path)
    payload = unique_episode(5)
    goal = copy.deepcopy(first_of(episode_resources(payload), "Goal"))
    client = FhirClient(ehr.base_url)
    patient = first_of(episode_resources(payload), "Patient")
    made = client.create({k: v for k, v in patient.items() if k != "id"})
    pid = (made.body or {}).get("id") or (made.location or "").split("/")[1]
    store.id_map.put(ehr.name, "Patient", patient["id"], pid, None)
    twin = {k: v for k, v in goal.items() if k != "id"}
    twin["subject"] = {"reference": f"Patient/{pid}"}
    client.create(twin)
    client.create(twin)
    enqueue_resource(store, goal, "p1")
    reports = drain(pusher(store, [ehr]))
    assert store.outbox.counts() == {"dead": 1}, [r.errors for r in reports]
    error = reports[0].errors[0]
    assert "HTTP 412" in error or ("HTTP 400" in error and "multiple" in error)  # HAPI 412, Medplum 400
    assert len(matches(client, goal)) == 2


@pytest.mark.parametrize("mode", ["batch", "individual"])
def test_batch_and_individual_modes_resolve_references_in_order(
    ehr_url: tuple[str, str], tmp_path: Path, mode: str,
) -> None:
    """Targets without transactions: referenced resources first, references rewritten to the EHR's ids."""
    ehr = target_for(ehr_url[1], ehr_url[0], mode=mode)
    store = new_store(tmp_path)
    payload = unique_episode(9)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    reports = drain(pusher(store, [ehr]))
    assert store.outbox.counts() == {"sent": 1}, [r.errors for r in reports]
    client = FhirClient(ehr.base_url)
    resources = episode_resources(payload)
    for resource in resources:
        assert len(matches(client, resource)) == 1
    careplan = matches(client, first_of(resources, "CarePlan"))[0]
    patient_id = (store.id_map.get(ehr.name, "Patient", first_of(resources, "Patient")["id"]) or ("",))[0]
    goal_id = (store.id_map.get(ehr.name, "Goal", first_of(resources, "Goal")["id"]) or ("",))[0]
    assert careplan["subject"]["reference"] == f"Patient/{patient_id}"
    assert {"reference": f"Goal/{goal_id}"} in careplan["goal"]
    # outside a transaction the Provenance names the exact versions it covers; HAPI stores the plain
    # reference (it strips versions by default), Medplum keeps the version and is searched by it
    versioned = f"CarePlan/{careplan['id']}/_history/{careplan['meta']['versionId']}"
    provenances = list(client.search("Provenance", {"target": versioned}))
    assert len(provenances) == 1
    assert {versioned, f"CarePlan/{careplan['id']}"} & {t["reference"] for t in provenances[0]["target"]}
