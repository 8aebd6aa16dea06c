"""A long EHR outage, compressed by the fault proxy, under a real ``etmi-fhir worker`` process and HAPI.

The EHR answers 503 and then refuses connections while many patients' writes are accepted; the outage
lasts until every patient's first entry has been tried more often than the target's ``max_attempts``
(so an entry counted against its attempts would have been dead-lettered). Then the EHR returns and the
backlog drains: nothing dead, every resource once on HAPI (every type counted, Provenance included), each
patient's writes in order (the Goal's versions on HAPI are the episode's, then update 1, then update 2),
and no thundering herd: the requests that reached the EHR during the outage are bounded by the breaker's
probe schedule, whatever the backlog (read from the proxy's request log and the outbox attempts).
"""

from __future__ import annotations

import copy
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from service.adapters.fhir_client import FhirClient
from service.store import Store
from service.store.models import OutboxRow
from tests.integration.test_sync_faults import provenances_of
from tests.integration.worker_process import Samples, log_tail, scrape, wait_for, worker
from tests.servers.faultproxy.proxy import Fault, FaultProxy
from tests.servers.fixtures import free_port
from tests.sync.support import (
    enqueue_bundle,
    enqueue_resource,
    episode_bundle,
    episode_resources,
    first_of,
    new_store,
    unique_episode,
)

pytestmark = pytest.mark.hapi
BASE, CAP, MAX_ATTEMPTS, THREADS, THRESHOLD = 0.2, 2.0, 4, 2, 3
BEFORE, DURING = 6, 10  # patients whose episode is accepted before the outage / during it
UPDATES = ("ETMI: 120 minutes of brisk walking a week", "ETMI: 150 minutes of brisk walking a week")


@pytest.fixture
def proxy(hapi_url: str) -> Iterator[FaultProxy]:
    p = FaultProxy(hapi_url).start()
    yield p
    p.stop()


def rows(store: Store) -> list[tuple[int, str, str, int]]:
    with store.sessions() as session:
        query = select(OutboxRow.id, OutboxRow.patient_key, OutboxRow.status, OutboxRow.attempts)
        return [(r[0], r[1], r[2], r[3]) for r in session.execute(query.order_by(OutboxRow.id))]


def heads_tried(store: Store, times: int, patients: int) -> bool:
    """Every patient's first entry has been claimed at least ``times`` times (or was dead-lettered)."""
    first: dict[str, int] = {}
    for _id, patient, status, attempts in rows(store):
        first.setdefault(patient, times if status == "dead" else attempts)
    return len(first) == patients and min(first.values()) >= times


def probes_within(seconds: float) -> int:
    """How many probes the breaker's schedule can fit in ``seconds`` (each waits at least half its step)."""
    elapsed, k = 0.0, 0
    while elapsed <= seconds:
        k += 1
        elapsed += min(CAP, BASE * 2 ** (k - 1)) / 2
    return k


def goal_update(payload: dict[str, Any], text: str) -> dict[str, Any]:
    goal = copy.deepcopy(first_of(episode_resources(payload), "Goal"))
    goal["description"] = {"text": text}
    return goal


def accept(store: Store, payload: dict[str, Any], key: str, name: str) -> None:
    enqueue_bundle(store, episode_bundle(payload), key, targets=[name])


def identifiers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    value = resource.get("identifier", [])
    return [value] if isinstance(value, dict) else list(value)


def count_on_hapi(base: str, payloads: list[dict[str, Any]]) -> Counter[str]:
    """Every resource of every episode exactly once on HAPI (one OR'ed identifier search per type and 20
    resources), returned as a count per type."""
    by_type: dict[str, list[str]] = {}
    for payload in payloads:
        for resource in episode_resources(payload):
            ident = identifiers(resource)[0]
            by_type.setdefault(resource["resourceType"], []).append(f"{ident['system']}|{ident['value']}")
    counts: Counter[str] = Counter()
    client = FhirClient(base)
    for resource_type, tokens in by_type.items():
        for i in range(0, len(tokens), 20):
            batch = tokens[i:i + 20]
            found = list(client.search(resource_type, {"identifier": ",".join(t.replace(",", r"\,") for t in batch),
                                                       "_count": "200"}))
            seen = Counter(t for r in found for x in identifiers(r)
                           if (t := f"{x.get('system')}|{x.get('value')}") in batch)
            assert all(seen[t] == 1 for t in batch), f"{resource_type}: {[t for t in batch if seen[t] != 1]}"
            counts[resource_type] += len(batch)
    return counts


def goal_versions(base: str, goal_id: str) -> list[str]:
    """The Goal's descriptions on HAPI, oldest version first."""
    bundle = requests.get(f"{base}/Goal/{goal_id}/_history", params={"_count": "50"}, timeout=30,
                          headers={"Accept": "application/fhir+json"}).json()
    versions = sorted((int(e["resource"]["meta"]["versionId"]), e["resource"]["description"]["text"])
                      for e in bundle.get("entry", []))
    return [text for _v, text in versions]


def target_down(samples: Samples, name: str) -> float | None:
    return samples.get(("etmi_sync_target_down", (("target", name),)))


def test_backlog_drains_in_order_after_a_long_outage_without_a_herd(
    proxy: FaultProxy, hapi_url: str, tmp_path: Path,
) -> None:
    store, name, port = new_store(tmp_path), f"hapi-{uuid.uuid4().hex[:6]}", free_port()
    payloads = [unique_episode(40 + i) for i in range(BEFORE + DURING)]
    keys = [f"p{i}-{uuid.uuid4().hex[:6]}" for i in range(len(payloads))]
    for payload, key in zip(payloads[:BEFORE], keys[:BEFORE], strict=True):
        accept(store, payload, key, name)
    proxy.persist(Fault("status", status=503))  # the EHR goes down before the worker's first round
    outage_started = time.monotonic()
    table = {name: {"base_url": proxy.url, "backoff_base": BASE, "backoff_cap": CAP, "max_attempts": MAX_ATTEMPTS,
                    "timeout": [2, 60]}}
    with worker(tmp_path, str(store.engine.url), table, port, ["--threads", str(THREADS)]) as proc:
        wait_for("the first patients tried", lambda: heads_tried(store, 1, BEFORE), 60)
        for payload, key in zip(payloads[BEFORE:], keys[BEFORE:], strict=True):  # accepted during the outage
            accept(store, payload, key, name)
        for payload, key in zip(payloads, keys, strict=True):
            for text in UPDATES:
                enqueue_resource(store, goal_update(payload, text), key, targets=[name])
        proxy.persist(Fault("drop"), replace=True)  # then no answer at all
        wait_for("every patient's first entry tried past max_attempts",
                 lambda: heads_tried(store, MAX_ATTEMPTS + 2, BEFORE + DURING), 180)
        during = scrape(port)
        proxy.clear_persistent()
        outage = time.monotonic() - outage_started
        wait_for("the backlog drains", lambda: not set(store.outbox.counts()) & {"pending", "failed", "in-flight"}, 240)
        after = scrape(port)
        assert proc.poll() is None, log_tail(tmp_path)

    total = (BEFORE + DURING) * (1 + len(UPDATES))
    assert store.outbox.counts() == {"sent": total}, [r for r in rows(store) if r[2] != "sent"]
    refused = [s for s in proxy.seen if s.fault in ("status", "drop")]
    bound = THRESHOLD + THREADS + probes_within(outage)
    assert len(refused) <= bound, f"{len(refused)} requests during a {outage:.1f} s outage, bound {bound}"
    attempts = [a for *_rest, a in rows(store)]
    assert max(attempts) <= probes_within(outage) + 3, attempts
    assert sum(attempts) < total * (MAX_ATTEMPTS + 2), attempts
    assert during[("etmi_outbox_oldest_pending_age_seconds", (("target", name),))] > 0
    assert target_down(during, name) == 1
    assert target_down(after, name) == 0

    counts = count_on_hapi(hapi_url, payloads)
    assert counts == Counter(r["resourceType"] for p in payloads for r in episode_resources(p))
    client = FhirClient(hapi_url)
    provenances: set[str] = set()
    for payload in payloads:
        resources = episode_resources(payload)
        goal = goal_update(payload, UPDATES[0])
        [remote_goal] = client.search("Goal", {"identifier": f"{goal['identifier'][0]['system']}|"
                                                             f"{goal['identifier'][0]['value']}"})
        assert goal_versions(hapi_url, remote_goal["id"]) == [first_of(resources, "Goal")["description"]["text"],
                                                              *UPDATES]
        goal_prov = provenances_of(hapi_url, remote_goal)
        assert len(goal_prov) == 1 + len(UPDATES), "one Provenance for the episode, one per update"
        patient = first_of(resources, "Patient")
        [remote_patient] = client.search("Patient", {"identifier": f"{patient['identifier'][0]['system']}|"
                                                                   f"{patient['identifier'][0]['value']}"})
        assert len(provenances_of(hapi_url, remote_patient)) == 1
        provenances |= goal_prov
    assert len(provenances) == len(payloads) * (1 + len(UPDATES)), "every Provenance once"
    store.close()
