"""Per-target delivery on the real SQLite outbox with in-process fake EHRs: one sick EHR never holds
back another, each target keeps its patient's order, unknown targets are dead-lettered, rows without
a target still go to every target."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from service.store import Store
from service.store.models import OutboxRow
from service.sync.clock import SystemClock
from service.sync.push import Pusher
from service.sync.targets import Target
from tests.sync.fakes import FakeEhr
from tests.sync.support import drain, drain_until_settled, enqueue_resource, new_store, target_for


def goal(local_id: str, text: str) -> dict[str, Any]:
    return {"resourceType": "Goal", "id": local_id, "lifecycleStatus": "active", "description": {"text": text},
            "identifier": [{"system": "urn:etmi:goal", "value": local_id}], "subject": {"display": "p1"}}


def fake_pusher(store: Store, *ehrs: tuple[Target, FakeEhr]) -> Pusher:
    return Pusher(store.outbox, store.id_map, list(ehrs), SystemClock(), "w1")


def texts(ehr: FakeEhr) -> list[str]:
    return [g["description"]["text"] for g in ehr.sent("Goal")]


def test_a_failing_target_does_not_block_the_others_and_keeps_its_own_order(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    a, b = FakeEhr("a", down=True), FakeEhr("b")
    sick = target_for(a.base_url, "a", backoff_base=0.2, backoff_cap=0.3, max_attempts=100)
    edits = [goal("g1", "walk 10 min"), goal("g1", "walk 20 min"), goal("g2", "cycle"), goal("g1", "walk 30 min")]
    for edit in edits:
        enqueue_resource(store, edit, "p1", targets=["a", "b"])
    p = fake_pusher(store, (sick, a), (target_for(b.base_url, "b"), b))
    deadline = time.monotonic() + 5
    while texts(b) != [e["description"]["text"] for e in edits] and time.monotonic() < deadline:
        drain(p)
    assert texts(b) == ["walk 10 min", "walk 20 min", "cycle", "walk 30 min"], "B got every entry, in order"
    assert a.refused >= 1 and texts(a) == []
    waiting = [store.outbox.get(i) for i in range(1, 9)]
    by_target = {(e.target, e.status) for e in waiting if e is not None}
    assert {s for t, s in by_target if t == "b"} == {"sent"}
    assert {s for t, s in by_target if t == "a"} == {"failed", "pending"}
    assert [e.attempts for e in waiting if e is not None and e.target == "a"][1:] == [0, 0, 0], \
        "A's younger entries wait behind its failed one"

    a.down = False
    drain_until_settled(p, store, 10)
    assert store.outbox.counts() == {"sent": 8}
    assert texts(a) == texts(b), "A got everything once, in the order it was written"
    a_goal, b_goal = store.id_map.get("a", "Goal", "g1"), store.id_map.get("b", "Goal", "g1")
    assert a_goal is not None and a_goal[0].startswith("a-") and b_goal is not None and b_goal[0].startswith("b-")
    with store.sessions() as session:
        recorded = {(row.target, rid.split("-")[0]) for row in session.scalars(select(OutboxRow))
                    for rid in (row.remote_ids or {}).values()}
    assert recorded == {("a", "Goal/a"), ("b", "Goal/b")}, "each row keeps the ids of its own target"


def test_an_entry_for_an_unknown_target_is_dead_lettered_with_the_reason(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    a = FakeEhr("a")
    enqueue_resource(store, goal("g1", "walk"), "p1", targets=["ghost", "a"])
    report = fake_pusher(store, (target_for(a.base_url, "a"), a)).run_once()
    assert (report.claimed, report.sent, report.dead) == (2, 1, 1)
    [dead] = store.outbox.list("dead")
    assert dead.target == "ghost" and dead.outcome is not None
    assert "target ghost is not configured" in dead.outcome["issue"][0]["diagnostics"]
    assert texts(a) == ["walk"]


def test_a_row_without_target_goes_to_every_target_and_orders_with_all_of_them(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    a, b = FakeEhr("a"), FakeEhr("b")
    enqueue_resource(store, goal("g1", "old"), "p1")
    enqueue_resource(store, goal("g1", "new"), "p1", targets=["a"])
    p = fake_pusher(store, (target_for(a.base_url, "a"), a), (target_for(b.base_url, "b"), b))
    first = p.run_once()
    assert first.claimed == 1, "the row for every target goes first"
    drain(p)
    assert store.outbox.counts() == {"sent": 2}
    assert (texts(a), texts(b)) == (["old", "new"], ["old"])
    assert store.id_map.get("a", "Goal", "g1") is not None and store.id_map.get("b", "Goal", "g1") is not None
