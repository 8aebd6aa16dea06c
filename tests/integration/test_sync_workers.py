"""Several workers on one PostgreSQL outbox push to HAPI at once: each entry is sent once, and one
patient's writes reach the EHR in the order they were stored. Each worker claims one row at a time, so
a patient's episode and its three goal edits go out in separate claims, possibly by different workers:
the Goal's version history on HAPI must show them in the order they were written."""

from __future__ import annotations

import threading

import pytest

from service.store import Store
from tests.sync.support import (
    assert_goal_edits_in_order,
    drain_until_settled,
    enqueue_episodes_with_goal_edits,
    pusher,
    target_for,
    unique_episode,
)

pytestmark = [pytest.mark.postgres, pytest.mark.hapi, pytest.mark.slow]


EDITS = 3


def test_four_workers_share_the_outbox_without_duplicates_or_reordering(pg_store: Store, hapi_url: str) -> None:
    target = target_for(hapi_url, "hapi", batch_size=1)  # one row a claim: no claim holds a whole patient
    payloads = [unique_episode(40 + i) for i in range(6)]
    goals = enqueue_episodes_with_goal_edits(pg_store, payloads, EDITS)
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
    assert_goal_edits_in_order(pg_store, "hapi", hapi_url, goals, EDITS)
