"""A long send keeps its claim (the lease is renewed between requests), and a send whose claim was
taken over by another worker stops, on the real SQLite outbox with a manual clock and an in-process
fake EHR (the crash and multi-worker tests in tests/integration use real servers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from service.store.db import utcnow
from service.store.outbox import OutboxEntry, OutboxRepository
from service.sync.ports import FhirResponse, Json
from service.sync.push import Pusher
from tests.sync.fakes import FakeEhr
from tests.sync.support import enqueue_bundle, episode_bundle, new_store, target_for, unique_episode

LEASE = 120.0


@dataclass
class ManualClock:
    """Starts at the real time (rows are enqueued with it: due now), then moves only when told."""

    moment: datetime = field(default_factory=utcnow)

    def now(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@dataclass
class SlowEhr(FakeEhr):
    """Each transaction takes ``seconds`` of the manual clock, during which worker w2 tries to claim."""

    clock: ManualClock = field(default_factory=ManualClock)
    rival: OutboxRepository | None = None
    seconds: list[float] = field(default_factory=list)
    taken: list[OutboxEntry] = field(default_factory=list)

    def transaction(self, bundle: Json) -> FhirResponse:
        self.clock.sleep(self.seconds.pop(0) if self.seconds else 0)
        assert self.rival is not None
        self.taken += self.rival.claim(10, "w2", LEASE)
        return super().transaction(bundle)


def setup(tmp_path: Path, seconds: list[float]) -> tuple[Pusher, SlowEhr, OutboxRepository, int]:
    store, bundle = new_store(tmp_path), episode_bundle(unique_episode(3))
    enqueue_bundle(store, bundle, "p1")
    clock = ManualClock()  # after the enqueue: the row is due at the clock's start
    outbox = OutboxRepository(store.sessions, clock.now)
    ehr = SlowEhr("a", clock=clock, rival=OutboxRepository(store.sessions, clock.now), seconds=seconds)
    target = target_for(ehr.base_url, "a", max_entries=8, lease_seconds=LEASE)  # 7 resources + Provenance a chunk
    return Pusher(outbox, store.id_map, [(target, ehr)], clock, "w1"), ehr, outbox, len(bundle["entry"])


def test_a_send_longer_than_the_lease_keeps_its_claim(tmp_path: Path) -> None:
    pusher, ehr, outbox, size = setup(tmp_path, [50.0] * 10)  # 50 s a chunk, 5+ chunks; the lease is 120 s
    start = ehr.clock.now()
    report = pusher.run_once()
    assert ehr.requests >= 5 and ehr.clock.now() - start >= timedelta(seconds=2 * LEASE)
    assert ehr.taken == [], "no other worker could claim the entry while it was being sent"
    assert (report.claimed, report.sent, report.lost_leases) == (1, 1, 0)
    assert len([r for r in ehr.received if r["resourceType"] != "Provenance"]) == size
    assert outbox.counts() == {"sent": 1}


def test_a_send_whose_claim_was_taken_over_stops(tmp_path: Path) -> None:
    pusher, ehr, outbox, _size = setup(tmp_path, [LEASE + 80])  # the first chunk outlives the lease
    report = pusher.run_once()
    assert [e.id for e in ehr.taken] == [1], "the lease ran out: w2 took the entry"
    assert ehr.requests == 1, "w1 stopped after the request during which it lost the lease"
    assert (report.sent, report.lost_leases) == (0, 1)
    assert outbox.counts() == {"in-flight": 1}
