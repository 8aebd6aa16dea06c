"""Several workers on one PostgreSQL outbox push to HAPI at once: each entry is sent once, and one
patient's writes reach the EHR in the order they were stored. Each worker claims one row at a time, so
a patient's episode and its three goal edits go out in separate claims, possibly by different workers:
the Goal's version history on HAPI must show them in the order they were written."""

from __future__ import annotations

import copy
import threading

import pytest

from service.adapters.fhir_client import FhirClient
from service.store import Store
from tests.sync.support import (
    drain_until_settled,
    enqueue_bundle,
    enqueue_resource,
    episode_bundle,
    episode_resources,
    first_of,
    pusher,
    target_for,
    unique_episode,
)

pytestmark = [pytest.mark.postgres, pytest.mark.hapi, pytest.mark.slow]


EDITS = 3


def test_four_workers_share_the_outbox_without_duplicates_or_reordering(pg_store: Store, hapi_url: str) -> None:
    target = target_for(hapi_url, "hapi", batch_size=1)  # one row a claim: no claim holds a whole patient
    payloads = [unique_episode(40 + i) for i in range(6)]
    goals = []
    for i, payload in enumerate(payloads):
        enqueue_bundle(pg_store, episode_bundle(payload), f"patient-{i}")
        goal = copy.deepcopy(first_of(episode_resources(payload), "Goal"))
        for n in range(1, EDITS + 1):
            goal["description"] = {"text": f"edit {n} of patient {i}"}
            enqueue_resource(pg_store, copy.deepcopy(goal), f"patient-{i}")
        goals.append(goal)
    total = len(payloads) * (1 + EDITS)
    workers = [pusher(pg_store, [target], f"w{i}") for i in range(4)]
    reports: list[list[object]] = [[] for _ in workers]
    threads = [threading.Thread(target=lambda i=i: reports[i].extend(drain_until_settled(workers[i], pg_store, 300)))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [e for rs in reports for r in rs for e in getattr(r, "errors", [])]
    assert pg_store.outbox.counts() == {"sent": total}, errors
    claimed = sum(getattr(r, "claimed", 0) for rs in reports for r in rs)
    assert claimed == total, errors
    assert sum(1 for rs in reports if any(getattr(r, "claimed", 0) for r in rs)) >= 2, "the work was shared"
    client = FhirClient(hapi_url)
    for i, goal in enumerate(goals):
        remote_id = (pg_store.id_map.get("hapi", "Goal", goal["id"]) or ("",))[0]
        history = client.request("GET", f"Goal/{remote_id}/_history").body or {}
        versions = sorted((int(e["resource"]["meta"]["versionId"]), e["resource"]["description"]["text"])
                          for e in history.get("entry", []))
        texts = [text for _v, text in versions]
        assert texts[1:] == [f"edit {n} of patient {i}" for n in range(1, EDITS + 1)], \
            f"patient {i}: the episode, then its edits in the order they were written: {texts}"
