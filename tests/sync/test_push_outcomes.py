"""What push.py leaves in the outbox for operators and for the next attempt, against the recording fake EHR and
the real SQLite store: retries that run out become a dead letter saying why; a retry waits as long as the
EHR's Retry-After asks; the kept error line has the status and issue codes but none of the EHR's
diagnostics (they can quote identifiers); a held write names what a clinician must look at. Written against
the survivors of the push.py mutation run (docs/mutation/push.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.sync.errors import classify
from service.sync.ports import FhirError, FhirResponse, Json, RetryableError
from service.sync.push import LeaseKeeper, LeaseLost
from tests.sync.recording import Bench, RecordingEhr, bundle_of, goal
from tests.sync.support import enqueue_bundle, episode_bundle, unique_episode


@dataclass
class RefusingEhr(RecordingEhr):
    """Answers every transaction with ``refusal`` (the error the HTTP adapter raises for that answer)."""

    refusal: FhirError | None = None

    def transaction(self, bundle: Json) -> FhirResponse:
        if self.refusal is not None:
            self.requests += 1
            raise self.refusal
        return super().transaction(bundle)


def test_retries_that_run_out_become_a_dead_letter_saying_why(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "transaction", max_attempts=2)
    bench.ehr.down = True
    bench.enqueue(("PUT", goal("g1")))
    [first] = bench.push_once()
    assert (first.retried, first.dead) == (1, 0)
    time.sleep(0.2)  # the backoff of the test targets is 10-50 ms
    [second] = bench.push_once()
    assert (second.retried, second.dead, second.errors) == (0, 1, ["a: HTTP 503 from a"])
    [dead] = bench.store.outbox.list("dead")
    assert dead.outcome == {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "transient", "diagnostics": "HTTP 503 from a", "expression": ["Bundle"]}]}


def test_a_retry_waits_as_long_as_the_ehr_asks(tmp_path: Path) -> None:
    ehr = RefusingEhr("a", refusal=classify(429, {"Retry-After": "120"}, None, "POST [base]"))
    bench = Bench(tmp_path, "transaction", ehr)
    bench.enqueue(("PUT", goal("g1")))
    before = datetime.now(UTC).replace(tzinfo=None)
    [report] = bench.push_once()
    assert report.retried == 1
    [entry] = bench.store.outbox.list("failed")
    assert 119 <= (entry.next_attempt_at - before).total_seconds() <= 125
    assert entry.last_error == "a: POST [base]: HTTP 429"


def test_the_kept_error_has_status_and_issue_codes_but_not_the_ehr_diagnostics(tmp_path: Path) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "transient", "diagnostics": "patient P-123 (ward 4) is locked"},
        {"severity": "error", "code": "throttled", "diagnostics": "slow down"},
        {"severity": "information", "diagnostics": "no code"}]}
    bench = Bench(tmp_path, "transaction", RefusingEhr("a", refusal=classify(503, {}, outcome, "POST [base]")))
    bench.enqueue(("PUT", goal("g1")))
    [report] = bench.push_once()
    assert report.errors == ["a: POST [base]: HTTP 503 (patient P-123 (ward 4) is locked; slow down; no code)"]
    [entry] = bench.store.outbox.list("failed")
    assert entry.last_error == "a: POST [base]: HTTP 503 [issue codes: throttled, transient]"


def test_a_held_write_is_dead_lettered_naming_what_a_clinician_must_decide(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "transaction")
    g1, g2 = goal("g1"), goal("g2")
    bench.enqueue(("PUT", g1), ("PUT", g2))
    bench.push()
    bench.ehr.edit("Goal", bench.history(g1)[-1]["id"], description={"text": "edited in the EHR"})
    bench.enqueue(("PUT", goal("g1", "ours")), ("PUT", goal("g2", "ours")))
    [report] = bench.push_once()
    assert (report.held, report.sent, report.dead) == (1, 0, 0)
    [held] = bench.store.outbox.list("dead")
    assert held.outcome == {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "conflict", "diagnostics": "held for a clinician: Goal/g1",
         "expression": ["Bundle"]}]}
    assert bench.history(g2)[-1]["description"] == {"text": "ours"}, "the rest was sent"


@dataclass
class CountingOutbox:
    """The two calls ``LeaseKeeper`` makes of an outbox: ``renew`` answers ``holds``."""

    holds: bool = True
    renewals: int = 0

    def renew(self, entries: object, lease_seconds: float) -> bool:
        self.renewals += 1
        return self.holds


@dataclass
class Entry:
    id: int


def test_the_lease_is_renewed_before_the_first_request_then_once_a_third_of_it_has_passed() -> None:
    moment = [datetime(2026, 1, 1, tzinfo=UTC)]
    outbox = CountingOutbox()
    keeper = LeaseKeeper(outbox, [Entry(7)], 90, lambda: moment[0])  # type: ignore[arg-type,list-item]
    server = keeper.guard(RecordingEhr("a"))
    assert server.base_url == "http://a.invalid/fhir" and outbox.renewals == 0, "reading an attribute is no request"
    for seconds, renewals in [(0, 1), (29.9, 1), (30, 2), (59.9, 2), (60, 3)]:
        moment[0] = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
        server.capabilities()
        assert outbox.renewals == renewals, seconds
    outbox.holds = False
    moment[0] += timedelta(seconds=30)
    with pytest.raises(LeaseLost, match=r"^lease lost on outbox entries \[7\]: another worker has them$"):
        server.capabilities()


def test_a_409_without_a_stale_version_is_a_collision_to_retry_and_a_412_is_for_a_human(tmp_path: Path) -> None:
    ehr = RefusingEhr("a", refusal=classify(409, {}, None, "POST [base]"))
    bench = Bench(tmp_path, "transaction", ehr)
    bench.enqueue(("PUT", goal("g1")))
    [report] = bench.push_once()
    assert (report.retried, report.dead) == (1, 0), "HAPI-0550: a concurrent conditional create, try again"
    ehr.refusal = classify(412, {}, None, "POST [base]")
    time.sleep(0.2)
    [report] = bench.push_once()
    assert (report.retried, report.dead) == (0, 1), "several EHR resources match: a human decides"


def test_a_refusal_without_an_outcome_is_dead_lettered_with_one_saying_what_happened(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "transaction", RefusingEhr("a", refusal=classify(404, {}, None, "POST [base]")))
    bench.enqueue(("PUT", goal("g1")))
    [report] = bench.push_once()
    assert report.errors == ["a: POST [base]: HTTP 404"]
    [dead] = bench.store.outbox.list("dead")
    assert dead.outcome == {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "processing", "diagnostics": "POST [base]: HTTP 404", "expression": ["Bundle"]}]}


def test_long_errors_are_cut_in_the_report_and_in_the_dead_letter(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "transaction", RefusingEhr("a", refusal=RetryableError("x" * 1500, 503)), max_attempts=1)
    bench.enqueue(("PUT", goal("g1")))
    [report] = bench.push_once()
    assert report.dead == 1 and report.errors == [("a: " + "x" * 1500)[:1000]]
    [dead] = bench.store.outbox.list("dead")
    assert dead.outcome is not None and dead.outcome["issue"][0]["diagnostics"] == "x" * 500


def test_an_entry_for_an_unknown_target_is_dead_lettered_saying_so(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "transaction")
    enqueue_bundle(bench.store, bundle_of(("PUT", goal("g1"))), "p1", targets=["ghost"])
    [report] = bench.push_once()
    assert (report.dead, report.errors) == (1, ["target ghost is not configured"])
    [dead] = bench.store.outbox.list("dead")
    assert dead.outcome == {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "not-found", "diagnostics": "target ghost is not configured in this sync worker",
         "expression": ["Bundle"]}]}
    assert bench.ehr.calls == []


def test_a_target_gets_only_its_push_types_and_the_patient(tmp_path: Path) -> None:
    types = ["Condition", "CarePlan", "Goal", "QuestionnaireResponse"]  # no Observation, no Procedure
    bench, payload = Bench(tmp_path, "transaction", push_types=types), unique_episode(36)
    enqueue_bundle(bench.store, episode_bundle(payload), "p1")
    bench.push()
    assert bench.store.outbox.counts() == {"sent": 1}
    assert {t for (t, _i) in bench.ehr.store} == {"Patient", "Provenance", *types}


def events(caplog: pytest.LogCaptureFixture, *fields: str) -> list[tuple[object, ...]]:
    return [(r.getMessage(), *(getattr(r, f, None) for f in fields)) for r in caplog.records
            if r.name == "etmi.sync.push"]


def test_the_log_events_operators_search_for_name_target_entry_and_status_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="etmi.sync.push")
    ehr = RefusingEhr("a", refusal=classify(503, {}, None, "POST [base]"))
    bench = Bench(tmp_path, "transaction", ehr, conflicts={"Goal": "service-wins"})
    bench.enqueue(("PUT", goal("g1")))
    bench.push_once()
    [(name, target, entry, status, delay)] = events(caplog, "target", "entry", "status", "delay")
    assert (name, target, entry, status) == ("sync.retry", "a", 1, 503) and isinstance(delay, float)
    caplog.clear()
    ehr.refusal = None
    time.sleep(0.2)
    bench.push()
    bench.ehr.edit("Goal", bench.history(goal("g1"))[-1]["id"], description={"text": "edited in the EHR"})
    bench.enqueue(("PUT", goal("g1", "ours")))
    bench.push()
    assert events(caplog, "target", "resource_type", "policy", "resolution") == [
        ("sync.conflict", "a", "Goal", "service-wins", "overwrote-ehr")]
    caplog.clear()
    ehr.refusal = classify(404, {}, None, "POST [base]")
    bench.enqueue(("PUT", goal("g2")))
    enqueue_bundle(bench.store, bundle_of(("PUT", goal("g3"))), "p2", targets=["ghost"])
    bench.push_once()
    assert sorted(events(caplog, "target", "entry", "status", "count"), key=str) == [
        ("sync.dead_letter", "a", 3, 404, None), ("sync.dead_letter", "ghost", None, None, 1)]
    assert "g1" not in caplog.text and "g2" not in caplog.text, "no identifiers in the log"
