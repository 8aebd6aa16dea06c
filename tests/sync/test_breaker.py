"""The per-target breaker of ``service/sync/retry.py``: opens after unavailable answers in a row, lets one
probe through per backoff step, closes on any answer, and keeps entries from being dead-lettered while open."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service.sync.ports import RejectedError, RetryableError
from service.sync.retry import Backoff, HealthAwareBackoff, TargetHealth, TargetUnavailable


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Server:
    """Answers with whatever ``self.next`` says: an exception to raise, or a value."""

    base_url = "http://ehr.invalid/fhir"

    def __init__(self) -> None:
        self.calls = 0
        self.next: Any = "ok"

    def transaction(self, bundle: dict[str, Any]) -> Any:
        self.calls += 1
        if isinstance(self.next, Exception):
            raise self.next
        return self.next

    def search(self, resource_type: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        self.calls += 1
        if isinstance(self.next, Exception):
            raise self.next
        yield {"resourceType": resource_type}


def health(clock: Clock) -> TargetHealth:
    return TargetHealth("t", Backoff(base=1.0, cap=8.0, rand=lambda: 1.0), threshold=3, now=clock)


def test_opens_after_three_unavailable_answers_then_probes_with_backoff() -> None:
    clock, server = Clock(), Server()
    h = health(clock)
    guarded = h.guard(server)  # type: ignore[arg-type]
    server.next = RetryableError("down", None)
    for _ in range(3):
        with pytest.raises(RetryableError):
            guarded.transaction({})
    assert h.open and server.calls == 3
    for _ in range(50):  # the backlog: none of these reaches the EHR
        with pytest.raises(TargetUnavailable):
            guarded.transaction({})
    assert server.calls == 3 and h.short_circuited == 50
    clock.t = 1.0  # first probe after delay(1) = 1 s
    with pytest.raises(RetryableError):
        guarded.transaction({})
    assert server.calls == 4
    clock.t = 2.5  # the next probe waits delay(2) = 2 s after the last probe
    with pytest.raises(TargetUnavailable):
        guarded.transaction({})
    clock.t = 3.0
    server.next = "ok"
    guarded.transaction({})
    assert not h.open and server.calls == 5
    guarded.transaction({})
    assert server.calls == 6


@pytest.mark.parametrize("status", [None, 429, 502, 503, 504])
def test_unavailable_statuses_count(status: int | None) -> None:
    h, server = health(Clock()), Server()
    server.next = RetryableError("x", status)
    for _ in range(3):
        with pytest.raises(RetryableError):
            h.guard(server).transaction({})  # type: ignore[arg-type]
    assert h.open


@pytest.mark.parametrize("error", [RetryableError("x", 500), RejectedError("x", 400)])
def test_an_answer_about_the_entry_closes_the_breaker(error: Exception) -> None:
    h, server = health(Clock()), Server()
    server.next = RetryableError("x", 503)
    for _ in range(2):
        with pytest.raises(RetryableError):
            h.guard(server).transaction({})  # type: ignore[arg-type]
    server.next = error
    with pytest.raises(type(error)):
        h.guard(server).transaction({})  # type: ignore[arg-type]
    assert h.failures == 0


def test_search_is_watched_while_iterating() -> None:
    h, server = health(Clock()), Server()
    server.next = RetryableError("x", None)
    for _ in range(3):
        with pytest.raises(RetryableError):
            list(h.guard(server).search("Goal", {}))  # type: ignore[arg-type]
    assert h.open


def test_no_dead_letter_while_the_breaker_is_open() -> None:
    h = health(Clock())
    backoff = HealthAwareBackoff(1.0, 8.0, max_attempts=3, health=h)
    assert backoff.exhausted(3)
    for _ in range(3):
        h.unavailable()
    assert not backoff.exhausted(30)
    h.answered()
    assert backoff.exhausted(3) and not backoff.exhausted(2)


def test_while_open_entries_are_due_just_after_the_next_probe() -> None:
    clock = Clock()
    h = health(clock)
    backoff = HealthAwareBackoff(1.0, 8.0, max_attempts=3, rand=lambda: 1.0, health=h)
    assert backoff.delay(5) == 8.0, "closed: the entry's own backoff"
    for _ in range(3):
        h.unavailable()
    assert h.until_probe() == 1.0
    assert backoff.delay(5) == 1.5, "open: after the probe (1 s), spread over half of it (at least base)"
    assert backoff.delay(5, retry_after=30) == 30
    clock.t = 0.5
    assert h.until_probe() == 0.5


def test_a_retry_after_delays_the_next_probe_but_a_timeout_does_not() -> None:
    clock, server = Clock(), Server()
    h = health(clock)
    server.next = RetryableError("busy", 503, retry_after=120)
    for _ in range(3):
        with pytest.raises(RetryableError):
            h.guard(server).transaction({})  # type: ignore[arg-type]
    assert h.until_probe() == 120
    t = health(Clock())
    server.next = RetryableError("timeout", None, retry_after=120)  # the client's read timeout, not the EHR's word
    for _ in range(3):
        with pytest.raises(RetryableError):
            t.guard(server).transaction({})  # type: ignore[arg-type]
    assert t.until_probe() == 1.0
