"""What ``Pusher`` promises that the other push tests did not pin down (found by the mutation run of
service/sync/push.py, docs/mutation/push.md): a claim takes the batch size asked for, two patients of one
target are pushed at once by two threads, a round's report keeps every patient's error, an entry without a
target records its ids under the target that sent them only, and a learned transaction size is kept for the
next push, stamped with the Pusher's clock; a retry is due after its backoff; a 409 collision is retried with its
status, message and issue codes; writes held in several conflict rounds are all named; an ehr-wins conflict hands
the EHR's version to the local store. On the real SQLite store and the fake EHR of ``fakes.py``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.store import Store
from service.sync.chunking import ChunkSizes
from service.sync.clock import SystemClock
from service.sync.errors import classify
from service.sync.ports import FhirResponse, Json
from service.sync.push import Pusher, PushReport
from service.sync.retry import Backoff
from service.sync.targets import Target
from tests.sync.fakes import FakeEhr
from tests.sync.recording import Bench, bundle_of, goal
from tests.sync.support import drain_until_settled, enqueue_bundle, enqueue_resource, new_store, target_for
from tests.sync.test_push_outcomes import RefusingEhr


class FixedClock:
    """A clock far from the wall clock: what it stamps is told apart from ``datetime.now``."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        pass


def pusher_for(store: Store, *pairs: tuple[Target, FakeEhr], clock: Any = None) -> Pusher:
    return Pusher(store.outbox, store.id_map, list(pairs), clock or SystemClock(), "w1", state=store.sync_state)


def test_a_pusher_without_a_target_is_refused_saying_so(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    with pytest.raises(ValueError, match=r"^no EHR target configured$"):
        Pusher(store.outbox, store.id_map, [], SystemClock(), "w1")


def test_a_claim_takes_the_batch_size_asked_for_else_the_targets(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    ehr = FakeEhr("a")
    for i in range(4):
        enqueue_resource(store, goal(f"g{i}"), f"p{i}")
    p = pusher_for(store, (target_for(ehr.base_url, "a", batch_size=2), ehr))
    assert p.run_once(batch_size=1).claimed == 1
    assert p.run_once().claimed == 2, "the first target's batch_size"
    assert store.outbox.counts() == {"sent": 3, "pending": 1}


def test_every_failing_patients_error_is_in_the_rounds_report(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    ehr = FakeEhr("a", down=True)
    for patient in ("p1", "p2", "p3"):
        enqueue_resource(store, goal(f"g-{patient}"), patient)
    report = pusher_for(store, (target_for(ehr.base_url, "a", max_attempts=5), ehr)).run_once()
    assert (report.claimed, report.retried) == (3, 3)
    assert report.errors == ["a: HTTP 503 from a"] * 3, "one error line per patient, none replaced"


def test_an_entry_without_target_records_its_ids_under_the_target_that_sent_them_only(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    ehr = FakeEhr("a")
    enqueue_resource(store, goal("g1"), "p1")  # no target: every configured target
    report = pusher_for(store, (target_for(ehr.base_url, "a"), ehr)).run_once()
    assert report.sent == 1
    found = store.id_map.get("a", "Goal", "g1")
    assert found is not None and found[0] == ehr.current("Goal")[0]["id"]
    assert store.id_map.get("default", "Goal", "g1") is None, \
        "no ids under a target that sent nothing (a target later named 'default' would update a stranger's resource)"


def test_a_learned_transaction_size_is_kept_for_the_next_push_stamped_with_the_pushers_clock(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    ehr = FakeEhr("a", max_transaction_entries=4)  # Medplum's refusal of a large conditional transaction
    at = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    p = pusher_for(store, (target_for(ehr.base_url, "a"), ehr), clock=FixedClock(at))
    enqueue_bundle(store, bundle_of(*[("PUT", goal(f"p1-g{i}")) for i in range(6)]), "p1", "e1")
    assert p.run_once().sent == 1
    refusals = ehr.too_large
    assert refusals >= 1, "refused, then sent in smaller transactions"
    learned = ChunkSizes(store.sync_state).learned("a")
    assert learned is not None and learned.max_entries <= 4
    assert learned.at == "2031-01-02T03:04:05+00:00", "stamped by the Pusher's clock, not the wall clock"

    enqueue_bundle(store, bundle_of(*[("PUT", goal(f"p2-g{i}")) for i in range(6)]), "p2", "e2")
    assert p.run_once().sent == 1
    assert ehr.too_large == refusals, "the next push starts at the learned size: refused no more"
    assert len(ehr.current("Goal")) == 12


def test_a_retry_is_due_its_backoff_after_the_pushers_now_and_logged_in_seconds_to_hundredths(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="etmi.sync.push")
    store = new_store(tmp_path)
    ehr = FakeEhr("a", down=True)
    at = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    enqueue_resource(store, goal("g1"), "p1")
    p = Pusher(store.outbox, store.id_map, [(target_for(ehr.base_url, "a"), ehr)], FixedClock(at), "w1",
               backoff=lambda t: Backoff(1.0, 10.0, 5, rand=lambda: 0.2345))
    assert p.run_once().retried == 1
    delay = 0.5 + 0.2345 * 0.5  # attempt 1: half the nominal second, plus the jitter
    [logged] = [getattr(r, "delay", None) for r in caplog.records if r.getMessage() == "sync.retry"]
    assert logged == 0.62, "the delay operators read, in seconds to hundredths"
    entry = store.outbox.get(1)
    assert entry is not None and entry.status == "failed"
    due = entry.next_attempt_at.replace(tzinfo=UTC) if entry.next_attempt_at.tzinfo is None else entry.next_attempt_at
    assert abs((due - (at + timedelta(seconds=delay))).total_seconds()) < 0.001


def test_writes_held_in_two_conflict_rounds_are_all_named_for_the_clinician(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "individual")  # one request per write: each conflict is its own round
    bench.enqueue(("PUT", goal("g1")), ("PUT", goal("g2")))
    bench.push()
    for name in ("g1", "g2"):
        bench.ehr.edit("Goal", bench.history(goal(name))[-1]["id"], description={"text": f"{name} edited in the EHR"})
    bench.enqueue(("PUT", goal("g1", "ours")), ("PUT", goal("g2", "ours")))
    [report] = bench.push_once()
    assert (report.held, report.conflicts) == (1, 2)
    [dead] = bench.store.outbox.list("dead")
    assert dead.outcome is not None
    assert dead.outcome["issue"][0]["diagnostics"] == "held for a clinician: Goal/g1, Goal/g2"


def test_a_409_collision_is_retried_with_its_status_and_message_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="etmi.sync.push")
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "conflict"}]}
    bench = Bench(tmp_path, "transaction", RefusingEhr("a", refusal=classify(409, {}, outcome, "POST [base]")))
    bench.enqueue(("PUT", goal("g1")))
    [report] = bench.push_once()
    assert report.retried == 1 and report.errors == ["a: POST [base]: HTTP 409"]
    assert [getattr(r, "status", None) for r in caplog.records if r.getMessage() == "sync.retry"] == [409]
    entry = bench.store.outbox.get(1)
    assert entry is not None and entry.last_error == "a: POST [base]: HTTP 409 [issue codes: conflict]", \
        "the EHR's issue codes kept with the retried error"


class HandOverRecorder:
    """The store's sync state, recording what the conflict policy hands over to the local store."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.handed: list[tuple[str, str | None, Json]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def apply_remote(self, target: str, local_id: str | None, resource: Json) -> bool:
        self.handed.append((target, local_id, resource))
        return bool(self.inner.apply_remote(target, local_id, resource))


def test_an_ehr_wins_conflict_hands_the_ehrs_version_to_the_local_store(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "transaction", conflicts={"Goal": "ehr-wins"})
    state = HandOverRecorder(bench.store.sync_state)
    p = Pusher(bench.store.outbox, bench.store.id_map, [(bench.target, bench.ehr)], SystemClock(), "w1", state=state)
    bench.enqueue(("PUT", goal("g1")))
    drain_until_settled(p, bench.store, 20)
    bench.ehr.edit("Goal", bench.history(goal("g1"))[-1]["id"], description={"text": "edited in the EHR"})
    bench.enqueue(("PUT", goal("g1", "ours")))
    drain_until_settled(p, bench.store, 20)
    assert [(t, i, r["description"]["text"]) for t, i, r in state.handed] == [("a", "g1", "edited in the EHR")]


@dataclass
class MeetingEhr(FakeEhr):
    """Each transaction waits (up to ``wait`` seconds) for a second one to arrive while it is in progress."""

    wait: float = 3.0
    inside: threading.Event = field(default_factory=threading.Event)
    barrier: threading.Barrier = field(default_factory=lambda: threading.Barrier(2))
    met: list[bool] = field(default_factory=list)

    def transaction(self, bundle: Json) -> FhirResponse:
        self.inside.set()
        try:
            self.barrier.wait(timeout=self.wait)
            self.met.append(True)
        except threading.BrokenBarrierError:
            self.met.append(False)
        return super().transaction(bundle)


def test_two_threads_push_two_patients_of_one_target_at_once(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    ehr = MeetingEhr("a")
    enqueue_resource(store, goal("g-p1"), "p1")
    enqueue_resource(store, goal("g-p2"), "p2")
    p = pusher_for(store, (target_for(ehr.base_url, "a"), ehr))
    reports: list[PushReport] = []
    first = threading.Thread(target=lambda: reports.append(p.run_once(batch_size=1)))
    second = threading.Thread(target=lambda: reports.append(p.run_once(batch_size=1)))
    first.start()
    assert ehr.inside.wait(10), "the first thread reached the EHR"
    second.start()
    first.join(20)
    second.join(20)
    assert ehr.met == [True, True], "the second patient's send ran while the first one's was in progress"
    assert sorted((r.claimed, r.sent) for r in reports) == [(1, 1), (1, 1)]
    assert store.outbox.counts() == {"sent": 2}
