"""Helpers shared by the sync tests: a real SQLite store with episodes in its outbox, targets, pushers.

The integration tests (tests/integration/test_sync_*.py) use the real store and the real FHIR
servers; only tests/sync/test_*.py unit tests use the in-process fake EHR of ``fakes.py``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from mappings.bundle import episode_to_bundle
from mappings.payload import episode_from_json
from service.adapters.fhir_client import FhirClient
from service.ig import load_package
from service.store import Store, open_store
from service.store.db import transaction
from service.store.outbox import enqueue
from service.sync.clock import SystemClock
from service.sync.push import Pusher
from service.sync.targets import Target, parse_target
from service.synthetic import synthetic_episode
from tests.servers.fixtures import started


def new_store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'etmi.db'}")


def unique_episode(index: int = 0, seed: int = 2026) -> dict[str, Any]:
    """A synthetic episode whose patient and episode ids are unique to this run (shared servers)."""
    payload = synthetic_episode(index, seed=seed)
    run = uuid.uuid4().hex[:10]
    payload["patient"]["value"] = f"{payload['patient']['value']}-{run}"
    payload["episode_id"] = f"{payload['episode_id']}-{run}"
    return payload


def episode_bundle(payload: dict[str, Any]) -> dict[str, Any]:
    return episode_to_bundle(episode_from_json(payload), load_package().questionnaires())


def enqueue_bundle(store: Store, bundle: dict[str, Any], patient_key: str, local_id: str = "episode",
                   targets: Sequence[str] = ()) -> None:
    with transaction(store.sessions) as session:
        enqueue(session, patient_key=patient_key, resource_type="Bundle", local_id=local_id,
                operation="transaction", resource=bundle, targets=targets)


def enqueue_resource(store: Store, resource: dict[str, Any], patient_key: str, operation: str = "update",
                     targets: Sequence[str] = ()) -> None:
    with transaction(store.sessions) as session:
        enqueue(session, patient_key=patient_key, resource_type=resource["resourceType"],
                local_id=resource["id"], operation=operation, resource=resource,  # type: ignore[arg-type]
                targets=targets)


def target_for(base_url: str, name: str = "t", **options: Any) -> Target:
    # generous read timeout: the 2-core CI machine runs HAPI, Medplum and other suites at once
    raw: dict[str, Any] = {"base_url": base_url, "backoff_base": 0.01, "backoff_cap": 0.05, "timeout": [10, 120],
                           **options}
    if "medplum" in name and "max_entries" not in options:
        raw["max_entries"] = 8
    return parse_target(name, raw)


def pusher(store: Store, targets: Sequence[Target], worker: str = "w1", state: Any = None) -> Pusher:
    pairs = [(t, FhirClient(t.base_url, timeout=t.timeout)) for t in targets]
    return Pusher(store.outbox, store.id_map, pairs, SystemClock(), worker, state=state)


def drain(p: Pusher, rounds: int = 20) -> list[Any]:
    reports = []
    for _ in range(rounds):
        report = p.run_once()
        reports.append(report)
        if report.claimed == 0:
            break
    return reports


def episode_resources(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The episode's resources with their local ids and local references (what the store holds)."""
    from mappings.bundle import episode_resources as resources

    return resources(episode_from_json(payload), load_package().questionnaires())


def first_of(resources: list[dict[str, Any]], resource_type: str) -> dict[str, Any]:
    return next(r for r in resources if r["resourceType"] == resource_type)


def identifier_query(resource: dict[str, Any]) -> str:
    from service.sync.plan import identifier_condition

    query = identifier_condition(resource)
    assert query is not None
    return query


@pytest.fixture(scope="module")
def private_medplum() -> Iterator[str]:
    """A fresh Medplum for one test module: its in-memory search is a linear scan, so a server shared
    with the whole suite gets slower with every resource stored (conditional entries search)."""
    with started("medplum") as url:
        yield url


@pytest.fixture(params=[pytest.param("hapi", marks=pytest.mark.hapi),
                        pytest.param("medplum", marks=pytest.mark.medplum)])
def ehr_url(request: pytest.FixtureRequest) -> tuple[str, str]:
    """``(name, base URL)`` of each real FHIR server: the shared HAPI, a module-private Medplum."""
    fixture = "hapi_url" if request.param == "hapi" else "private_medplum"
    return request.param, str(request.getfixturevalue(fixture))


def drain_until_settled(p: Pusher, store: Store, timeout: float = 30.0) -> list[Any]:
    """Push rounds until nothing is pending, failed or in flight (waiting for retries to fall due)."""
    import time

    reports, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        reports += drain(p)
        if not set(store.outbox.counts()) & {"pending", "failed", "in-flight"}:
            break
        time.sleep(0.2)
    return reports


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    """A store on a fresh PostgreSQL database of the suite's server, dropped afterwards."""
    from tests.service.conftest import _drop_postgres, _fresh_postgres

    url = _fresh_postgres(postgres_url)
    store = open_store(url)
    yield store
    store.close()
    _drop_postgres(postgres_url, url)


def enqueue_episodes_with_goal_edits(store: Store, payloads: Sequence[dict[str, Any]],
                                     edits: int) -> list[dict[str, Any]]:
    """Queue each payload's episode for ``patient-<i>``, then ``edits`` changes of its Goal; the last Goals."""
    goals = []
    for i, payload in enumerate(payloads):
        enqueue_bundle(store, episode_bundle(payload), f"patient-{i}")
        goal = copy.deepcopy(first_of(episode_resources(payload), "Goal"))
        for n in range(1, edits + 1):
            goal["description"] = {"text": f"edit {n} of patient {i}"}
            enqueue_resource(store, copy.deepcopy(goal), f"patient-{i}")
        goals.append(goal)
    return goals


def assert_goal_edits_in_order(store: Store, target: str, base_url: str, goals: Sequence[dict[str, Any]],
                               edits: int) -> None:
    """Each Goal's version history on the EHR: the episode's version, then its edits in the order written."""
    client = FhirClient(base_url)
    for i, goal in enumerate(goals):
        remote_id = (store.id_map.get(target, "Goal", goal["id"]) or ("",))[0]
        history = client.request("GET", f"Goal/{remote_id}/_history").body or {}
        versions = sorted((int(e["resource"]["meta"]["versionId"]), e["resource"]["description"]["text"])
                          for e in history.get("entry", []))
        texts = [text for _v, text in versions]
        assert texts[1:] == [f"edit {n} of patient {i}" for n in range(1, edits + 1)], \
            f"patient {i}: the episode, then its edits in the order they were written: {texts}"
