"""The push use-case: claim outbox entries → group per (patient, target) → send → record.

An entry goes to its own target only; an entry without a target (``None``) goes to every configured
target, with one shared outcome; an entry for a target this worker does not know is dead-lettered
("target X is not configured"). The store's claim is FIFO per (patient, target) under a lease, so two
workers never write for the same patient to the same target at once (HAPI's conditional-create race,
hapi-fhir #3141, cannot duplicate), while one EHR that is down never holds back another; a
process-local lock per (patient, target) adds the same guarantee between threads. Failures are sorted
once:

A long send (many chunks, a rate limit, slow answers) keeps its claim: before each request the lease
is renewed once a third of it has passed (and always before a group's first request, as groups of one
claim are sent one after another); when another worker has taken the entries over, the send stops
(``LeaseLost``) so two workers never write one patient's entries at once.

- ``RetryableError`` (429/503 with ``Retry-After``, other 5xx, timeouts, connection errors, a token
  endpoint down, a reference not yet on the target) → ``mark_failed`` with backoff, dead-lettered
  after ``max_attempts``;
- ``ConflictError`` (409/412) → the conflict policy (``conflicts.py``), then the chunk is re-sent;
- ``RejectedError``/``NotFoundError``/unresolvable conflicts → ``dead_letter`` with the target's
  OperationOutcome. Held conflicts dead-letter only their entry, after the rest was sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from mappings.errors import Issue, operation_outcome
from service.sync.chunking import ChunkSizes, send_plan
from service.sync.conflicts import resolve
from service.sync.plan import PlanError, Write, plan_writes
from service.sync.ports import (
    Clock,
    ConflictError,
    FhirError,
    FhirServerPort,
    IdMapPort,
    Json,
    OutboxEntryLike,
    OutboxPort,
    RetryableError,
    SyncStatePort,
)
from service.sync.retry import Backoff
from service.sync.send import SendContext, failed_writes
from service.sync.targets import Target
from service.sync.wrap import CallWrapper

log = logging.getLogger("etmi.sync.push")
MAX_CONFLICT_ROUNDS = 3


class LeaseLost(RetryableError):
    """Another worker holds these entries now (our lease ran out): stop sending them."""


class LeaseKeeper:
    """Renews one claim's lease before a request once a third of it has passed since the last renewal."""

    def __init__(self, outbox: OutboxPort, entries: Sequence[OutboxEntryLike], lease_seconds: float,
                 now: Callable[[], datetime]) -> None:
        self.outbox, self.entries, self.lease_seconds, self.now = outbox, entries, lease_seconds, now
        self.renewed: datetime | None = None  # the claim's own time is unknown here: renew before the first request

    def beat(self) -> None:
        moment = self.now()
        if self.renewed is not None and (moment - self.renewed).total_seconds() < self.lease_seconds / 3:
            return
        if not self.outbox.renew(self.entries, self.lease_seconds):
            raise LeaseLost(f"lease lost on outbox entries {[e.id for e in self.entries]}: another worker has them")
        self.renewed = moment

    def guard(self, server: FhirServerPort) -> FhirServerPort:
        """``server`` with ``beat`` before each of its calls."""
        return cast(FhirServerPort, _BeforeEachCall(server, self.beat))


class _BeforeEachCall(CallWrapper):
    def __init__(self, inner: Any, before: Callable[[], None]) -> None:
        super().__init__(inner)
        self._before = before

    def around(self, method: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self._before()
        return method(*args, **kwargs)


@dataclass
class PushReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    held: int = 0
    conflicts: int = 0
    lost_leases: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: PushReport) -> None:
        for name in ("claimed", "sent", "retried", "dead", "held", "conflicts", "lost_leases"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors


@dataclass
class TargetOutcome:
    """What happened to one patient's plan on one target."""

    remote_ids: dict[str, str] = field(default_factory=dict)
    held: list[Write] = field(default_factory=list)
    error: FhirError | None = None


def outcome_for(err: Exception, code: str = "exception") -> Json:
    outcome = getattr(err, "outcome", None)
    if isinstance(outcome, dict) and outcome.get("resourceType") == "OperationOutcome":
        return outcome
    return operation_outcome([Issue("error", code, str(err)[:500], "Bundle")])


def safe_summary(err: FhirError) -> str:
    """The error line kept in the outbox: status and issue codes only. A server's diagnostics can quote
    identifiers or content (HAPI-0550 quotes the SQL), so they stay in the OperationOutcome."""
    head = str(err).split(" (", 1)[0]
    outcome = err.outcome or {}
    codes = sorted({str(i.get("code")) for i in outcome.get("issue", []) if i.get("code")})
    return head + (f" [issue codes: {', '.join(codes)}]" if codes else "")


class Pusher:
    def __init__(
        self, outbox: OutboxPort, id_map: IdMapPort, targets: Sequence[tuple[Target, FhirServerPort]],
        clock: Clock, worker_id: str, state: SyncStatePort | None = None,
        backoff: Callable[[Target], Backoff] | None = None,
    ) -> None:
        if not targets:
            raise ValueError("no EHR target configured")
        self.outbox, self.id_map, self.targets = outbox, id_map, list(targets)
        self.clock, self.worker_id, self.state = clock, worker_id, state
        self.sizes = ChunkSizes(state, clock.now)  # transaction sizes learned per target, in the sync state
        self._backoff = backoff or (lambda t: Backoff(t.backoff_base, t.backoff_cap, t.max_attempts))
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def run_once(self, batch_size: int | None = None) -> PushReport:
        first = self.targets[0][0]
        entries = self.outbox.claim(batch_size or first.batch_size, self.worker_id, first.lease_seconds)
        report = PushReport(claimed=len(entries))
        groups: dict[tuple[str, str | None], list[OutboxEntryLike]] = {}
        for entry in entries:
            groups.setdefault((entry.patient_key, entry.target), []).append(entry)
        for (patient_key, name), group in groups.items():
            targets = [(t, server) for t, server in self.targets if name in (None, t.name)]
            if not targets:
                self._unconfigured(str(name), group, report)
                continue
            with ExitStack() as held:
                for target, _server in targets:  # in configuration order: no two threads wait on each other
                    held.enter_context(self._lock(patient_key, target.name))
                report.add(self.push_patient(group, targets))
        return report

    def _lock(self, patient_key: str, target: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((patient_key, target), threading.Lock())

    def _unconfigured(self, name: str, entries: Sequence[OutboxEntryLike], report: PushReport) -> None:
        """An entry for a target this worker does not know: dead-lettered, never dropped (replay it once
        the target is configured again)."""
        message = f"target {name} is not configured"
        report.errors.append(message)
        log.warning("sync.dead_letter", extra={"target": name, "count": len(entries)})
        outcome = operation_outcome([Issue("error", "not-found", f"{message} in this sync worker", "Bundle")])
        for entry in entries:
            self._finish(report, "dead", self.outbox.dead_letter(entry, outcome))

    def push_patient(
        self, entries: Sequence[OutboxEntryLike], targets: Sequence[tuple[Target, FhirServerPort]] | None = None,
    ) -> PushReport:
        """Send one patient's entries to ``targets`` (default: every configured target)."""
        report = PushReport()
        try:
            plan = plan_writes(entries)
        except (PlanError, KeyError, TypeError) as err:
            for entry in entries:
                self._finish(report, "dead", self.outbox.dead_letter(entry, outcome_for(err, "invalid")))
            return report
        lease = LeaseKeeper(self.outbox, entries, self.targets[0][0].lease_seconds, self.clock.now)
        outcomes = [(t, self._push_target(t, lease.guard(server), plan, entries, report))
                    for t, server in targets or self.targets]
        for entry in entries:
            self._conclude(entry, outcomes, report)
        return report

    def _push_target(
        self, target: Target, server: FhirServerPort, plan: list[Write], entries: Sequence[OutboxEntryLike],
        report: PushReport,
    ) -> TargetOutcome:
        writes = [w for w in plan if w.resource_type in target.push_types or w.resource_type == "Patient"]
        ctx = SendContext(target, server, self.id_map, self.clock.now, [e.id for e in entries],
                          retry=any(e.attempts > 1 for e in entries))
        result = TargetOutcome()
        for _round in range(MAX_CONFLICT_ROUNDS + 1):
            try:
                send_plan(writes, ctx, self.sizes)
                break
            except ConflictError as err:
                resolution = resolve(failed_writes(err) or writes, ctx, self.state)
                report.conflicts += len(resolution.conflicts)
                for conflict in resolution.conflicts:
                    log.info("sync.conflict", extra={"target": target.name, "resource_type": conflict.resource_type,
                                                     "policy": conflict.policy, "resolution": conflict.resolution})
                    if self.state is not None:
                        self.state.record_conflict(conflict)
                result.held += resolution.held
                if not resolution.changed:
                    # no stale version behind it: a 409 is a collision with a concurrent write (HAPI's
                    # unique index on conditional-create URLs, HAPI-0550), worth retrying; a 412 (several
                    # resources match the business identifier) needs a human
                    result.error = RetryableError(str(err), err.status, err.outcome) if err.status == 409 else err
                    break
            except FhirError as err:
                result.error = err
                break
        else:
            result.error = RetryableError(f"conflicts on {target.name} still unresolved after retries")
        # before mark_sent: the store's mark_sent commits the status before the id map, so a worker
        # claiming this patient's next entry in between would not find the ids yet
        ctx.flush()
        for key, (rid, ver) in ctx.results.items():
            result.remote_ids[key] = f"{key.split('/')[0]}/{rid}" + (f"/_history/{ver}" if ver else "")
        return result

    def _conclude(
        self, entry: OutboxEntryLike, outcomes: Sequence[tuple[Target, TargetOutcome]], report: PushReport,
    ) -> None:
        errors = [(t, o.error) for t, o in outcomes if o.error is not None]
        fatal = [(t, e) for t, e in errors if not isinstance(e, RetryableError)]
        held = [w for _t, o in outcomes for w in o.held if entry.id in w.entry_ids]
        if fatal:
            target, err = fatal[0]
            log.warning("sync.dead_letter", extra={"target": target.name, "entry": entry.id, "status": err.status})
            report.errors.append(f"{target.name}: {err}")
            self._finish(report, "dead", self.outbox.dead_letter(entry, outcome_for(err, "processing")))
        elif errors:
            self._retry(entry, errors, report)
        elif held:
            names = ", ".join(sorted({f"{w.resource_type}/{w.local_id}" for w in held}))
            outcome = operation_outcome([Issue("error", "conflict", f"held for a clinician: {names}", "Bundle")])
            self._finish(report, "held", self.outbox.dead_letter(entry, outcome))
        else:
            target, first = outcomes[0]
            self._finish(report, "sent", self.outbox.mark_sent(entry, first.remote_ids, target.name))

    def _retry(self, entry: OutboxEntryLike, errors: Sequence[tuple[Target, FhirError]], report: PushReport) -> None:
        target, err = errors[0]
        backoff = self._backoff(target)
        report.errors.append(f"{target.name}: {err}"[:1000])
        message = f"{target.name}: {safe_summary(err)}"
        if backoff.exhausted(entry.attempts):
            outcome = outcome_for(err, "transient")
            self._finish(report, "dead", self.outbox.dead_letter(entry, outcome))
            return
        retry_after = getattr(err, "retry_after", None)
        delay = backoff.delay(entry.attempts, retry_after)
        log.info("sync.retry", extra={"target": target.name, "entry": entry.id, "status": err.status,
                                      "delay": round(delay, 2)})
        when = self.clock.now() + timedelta(seconds=delay)
        self._finish(report, "retried", self.outbox.mark_failed(entry, message, when))

    @staticmethod
    def _finish(report: PushReport, what: str, ok: Any) -> None:
        if not ok:
            report.lost_leases += 1
            return
        setattr(report, what, getattr(report, what) + 1)
