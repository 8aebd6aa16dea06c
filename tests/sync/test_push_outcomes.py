"""What push.py leaves in the outbox for operators and for the next attempt, against the recording fake EHR and
the real SQLite store: retries that run out become a dead letter saying why; a retry waits as long as the
EHR's Retry-After asks; the kept error line has the status and issue codes but none of the EHR's
diagnostics (they can quote identifiers); a held write names what a clinician must look at. Written against
the survivors of the push.py mutation run (docs/mutation/push.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from service.sync.errors import classify
from service.sync.ports import FhirError, FhirResponse, Json
from tests.sync.recording import Bench, RecordingEhr, goal


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
        {"severity": "error", "code": "transient", "diagnostics": "patient P-123 is locked"},
        {"severity": "error", "code": "throttled", "diagnostics": "slow down"},
        {"severity": "information", "diagnostics": "no code"}]}
    bench = Bench(tmp_path, "transaction", RefusingEhr("a", refusal=classify(503, {}, outcome, "POST [base]")))
    bench.enqueue(("PUT", goal("g1")))
    [report] = bench.push_once()
    assert report.errors == ["a: POST [base]: HTTP 503 (patient P-123 is locked; slow down; no code)"]
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
