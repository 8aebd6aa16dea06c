"""How send.py reads the EHR's answers, against the recording fake EHR and the real SQLite store: ids and
versions however a server words them (reason phrase, etag, resource, a location without version, no ETag),
the next update's If-Match from them; answers it cannot read as a success (no body, fewer entries than
requests, no status, a 3xx) never recorded as one and never a crash; a refused entry dead-lettered with
the EHR's OperationOutcome; a 429 entry and a 409 on the Provenance retried. Written against the survivors
of the send.py mutation run (docs/mutation/send.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from service.sync.errors import classify
from service.sync.ports import FhirResponse, Json
from tests.sync.fake_answers import AnswerStyle
from tests.sync.fakes import EntryFailed, Key
from tests.sync.recording import Bench, RecordingEhr, goal

STYLES = {
    "hapi": ({"style": AnswerStyle(status_text=True, entry_etag=True)}, "1"),
    "version-in-etag": ({"style": AnswerStyle(versioned_location=False, entry_etag=True)}, "1"),
    "resource-only": ({"style": AnswerStyle(entry_location=False, entry_resource=True)}, "1"),
    "no-version": ({"style": AnswerStyle(versioned_location=False)}, None),
}
SINGLE_STYLES = {
    "version-in-etag": ({"minimal": True, "style": AnswerStyle(versioned_location=False)}, "1"),
    "no-version": ({"minimal": True, "style": AnswerStyle(versioned_location=False, etag=False)}, None),
}
CASES = [(m, s, *STYLES[s]) for m in ("transaction", "batch") for s in STYLES] + [
    ("individual", s, *SINGLE_STYLES[s]) for s in SINGLE_STYLES]


def updates_of(ehr: RecordingEhr, mode: str) -> list[Json]:
    """The ``PUT Goal/<id>`` requests sent (``ifMatch`` included when there was one)."""
    if mode == "individual":
        return [{"url": f"Goal/{c['resource']['id']}", **({"ifMatch": c["ifMatch"]} if c["ifMatch"] else {})}
                for k, c in ehr.calls
                if k == "update" and c["resource"]["resourceType"] == "Goal" and not c["condition"]]
    return [{k: v for k, v in e["request"].items() if k != "method"} for e in ehr.entries(mode)
            if e["request"]["url"].startswith("Goal/")]


@pytest.mark.parametrize(("mode", "style", "fake", "version"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_ids_and_versions_are_read_however_the_ehr_words_them(
    tmp_path: Path, mode: str, style: str, fake: dict[str, Any], version: str | None,
) -> None:
    bench = Bench(tmp_path, mode, RecordingEhr("a", **fake))
    goals = [goal("g1"), goal("g2")]
    bench.enqueue(*[("PUT", g) for g in goals])
    bench.push()
    rids = [bench.ehr.current("Goal")[i]["id"] for i in (0, 1)]
    assert [bench.remote(g) for g in goals] == [(rid, version) for rid in rids]
    bench.enqueue(*[("PUT", goal(g["id"], "changed")) for g in goals])
    bench.push()
    assert bench.store.outbox.counts() == {"sent": 2}
    if_match = {"ifMatch": f'W/"{version}"'} if version else {}
    assert updates_of(bench.ehr, mode) == [{"url": f"Goal/{rid}", **if_match} for rid in rids]


@dataclass
class OddEhr(RecordingEhr):
    """Commits like the fake, then answers bundles with ``reword(answer body)``; refuses writes by identifier
    value (``refuse``: value → HTTP status, ``times`` times) and a Provenance update once (``provenance_409``)."""

    reword: Callable[[Json], Json | None] | None = None
    refuse: Mapping[str, int] = field(default_factory=dict)
    times: int = 1
    provenance_409: bool = False

    def transaction(self, bundle: Json) -> FhirResponse:
        answer = super().transaction(bundle)
        return FhirResponse(200, self.reword(answer.body or {})) if self.reword else answer

    def update(self, resource: Json, if_match: str | None = None, condition: str | None = None) -> FhirResponse:
        if resource["resourceType"] == "Provenance" and self.provenance_409:
            self.provenance_409 = False
            raise classify(409, {}, None, "PUT Provenance")
        return super().update(resource, if_match, condition)

    def _entry(self, work: dict[Key, list[Json | None]], entry: Json, urls: Mapping[str, str]) -> Any:
        value = next(iter((entry.get("resource") or {}).get("identifier") or [{}])).get("value")
        if value in self.refuse and self.times > 0:
            self.times -= 1
            raise EntryFailed(self.refuse[value], f"refused {value}")
        return super()._entry(work, entry, urls)


def entries_as(answer: Json) -> Callable[[Json], Json]:
    return lambda body: {**body, "entry": [answer for _ in body.get("entry", [])]}


@pytest.mark.parametrize("mode", ["transaction", "batch"])
def test_an_answer_without_entries_is_retried(tmp_path: Path, mode: str) -> None:
    bench = Bench(tmp_path, mode, OddEhr("a", reword=lambda _body: None))
    bench.enqueue(("PUT", goal("g1")), ("PUT", goal("g2")))
    bench.push_once()
    [entry] = bench.store.outbox.list("failed")
    assert entry.last_error == "a: the answer has 0 entries for 2 requests"


@pytest.mark.parametrize(("answer", "status"), [({}, "0"), ({"response": {}}, "0"), ({"response": {"status": ""}}, "0"),
                                                ({"response": {"status": "300 Multiple Choices"}}, "300")],
                         ids=["no-response", "no-status", "empty-status", "3xx"])
@pytest.mark.parametrize("mode", ["transaction", "batch"])
def test_an_entry_answer_that_is_no_success_is_never_recorded_as_one(
    tmp_path: Path, mode: str, answer: Json, status: str,
) -> None:
    bench = Bench(tmp_path, mode, OddEhr("a", reword=entries_as(answer)))
    g1 = goal("g1")
    bench.enqueue(("PUT", g1))
    [report] = bench.push_once()
    assert bench.store.outbox.counts() == {"dead": 1}
    assert report.errors == [f"a: Goal entry: HTTP {status}"]
    assert bench.remote(g1) is None


def test_a_refused_entry_is_dead_lettered_with_the_ehr_outcome_and_the_rest_kept(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "batch", OddEhr("a", refuse={"g2": 422}))
    bench.enqueue(("PUT", goal("g1")), ("PUT", goal("g2")))
    [report] = bench.push_once()
    assert report.errors == ["a: Goal entry: HTTP 422 (refused g2)"]
    [entry] = bench.store.outbox.list("dead")
    assert entry.outcome == EntryFailed(422, "refused g2").outcome, "the EHR's own OperationOutcome"
    assert bench.remote(goal("g1")) is not None, "what went through is remembered"


def test_a_429_entry_is_retried(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "batch", OddEhr("a", refuse={"g2": 429}))
    bench.enqueue(("PUT", goal("g1")), ("PUT", goal("g2")))
    reports = bench.push()
    assert sum(r.retried for r in reports) == 1
    assert bench.store.outbox.counts() == {"sent": 1}
    assert sorted(g["description"]["text"] for g in bench.ehr.current("Goal")) == ["goal g1", "goal g2"]


@pytest.mark.parametrize("mode", ["batch", "individual"])
def test_a_409_on_the_provenance_is_retried_and_it_stays_one(tmp_path: Path, mode: str) -> None:
    bench = Bench(tmp_path, mode, OddEhr("a", provenance_409=True))
    bench.enqueue(("PUT", goal("g1")))
    reports = bench.push()
    assert sum(r.retried for r in reports) == 1, "a concurrent write to the Provenance: try again"
    assert bench.store.outbox.counts() == {"sent": 1}
    assert len(bench.ehr.current("Provenance")) == 1
