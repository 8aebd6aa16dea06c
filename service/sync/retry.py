"""When to try again: exponential backoff with jitter, the server's ``Retry-After``, and a breaker per EHR.

``Backoff.delay(attempt)`` for attempt 1, 2, 3 … is uniform in ``[base·2^(n-1)/2, base·2^(n-1)]`` capped at
``cap`` (half jitter: spreads a thundering herd, never retries sooner than half the nominal delay).
A ``Retry-After`` from a 429/503 wins when it is longer (up to an hour).
After ``max_attempts`` retryable failures the entry is dead-lettered: no endless retry loop.

``TargetHealth`` (one per EHR target and worker process, shared by its threads) is a circuit breaker for
a long EHR outage. After ``threshold`` unavailable answers in a row (no answer, a timeout, 429, 502, 503,
504) it opens: calls fail at once, without a request, except one probe when the probe's own backoff
(the same schedule, one more step per failed probe) has passed; any answer from the EHR closes it. So
the requests an outage costs do not grow with the backlog. ``HealthAwareBackoff`` never dead-letters an
entry while the breaker is open (an outage is not the entry's fault) and makes it due just after the next
probe rather than after its own backoff, so the backlog drains as soon as a probe finds the EHR back.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from service.sync.ports import FhirError, FhirServerPort, RetryableError
from service.sync.wrap import CallWrapper

RETRY_AFTER_MAX = 3600.0
UNAVAILABLE = frozenset({None, 429, 502, 503, 504})  # statuses that say "the EHR", not "this entry"


@dataclass
class Backoff:
    base: float = 2.0
    cap: float = 600.0
    max_attempts: int = 10
    rand: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        nominal = min(self.cap, self.base * float(2 ** min(max(0, attempt - 1), 60)))
        jittered = nominal / 2 + float(self.rand()) * nominal / 2
        if retry_after is not None:  # the server knows best, within reason
            return float(max(jittered, min(retry_after, RETRY_AFTER_MAX)))
        return jittered

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts


class TargetUnavailable(RetryableError):
    """Not tried: the breaker of this target is open (the EHR did not answer the last requests)."""


@dataclass
class TargetHealth:
    """Circuit breaker of one EHR target in one worker process (thread-safe)."""

    name: str
    backoff: Backoff
    threshold: int = 3
    now: Callable[[], float] = field(default=time.monotonic)
    failures: int = 0  # unavailable answers in a row
    next_probe: float = 0.0
    short_circuited: int = 0  # calls refused without a request while open (tests, logs)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def open(self) -> bool:
        return self.failures >= self.threshold

    def allow(self) -> bool:
        """True when a request may go out: the breaker is closed, or this call is the probe."""
        with self._lock:
            if not self.open or self.now() >= self.next_probe:
                if self.open:  # the probe: no other request until it has answered or its delay passed
                    self.next_probe = self.now() + self._probe_delay()
                return True
            self.short_circuited += 1
            return False

    def answered(self) -> None:
        with self._lock:
            self.failures = 0

    def unavailable(self, retry_after: float | None = None) -> None:
        """A request without an answer, or a 429/502/503/504 (whose ``Retry-After`` the next probe honours)."""
        with self._lock:
            self.failures += 1
            if self.open:
                self.next_probe = self.now() + max(self._probe_delay(), min(retry_after or 0.0, RETRY_AFTER_MAX))

    def until_probe(self) -> float:
        """Seconds until the next probe may go out (0 when the breaker is closed or the probe is due)."""
        with self._lock:
            return max(0.0, self.next_probe - self.now()) if self.open else 0.0

    def _probe_delay(self) -> float:
        """One more backoff step per failed probe (capped): 1st probe after ``delay(1)``, then ``delay(2)``…"""
        return self.backoff.delay(self.failures - self.threshold + 1)

    def failed(self, err: FhirError) -> None:
        if isinstance(err, RetryableError) and err.status in UNAVAILABLE:  # a timeout's retry_after is ours
            self.unavailable(err.retry_after if err.status is not None else None)
        else:
            self.answered()

    def watch(self, pages: Iterator[Any]) -> Iterator[Any]:
        """A search's results, recording the outcome of the requests made while iterating."""
        try:
            yield from pages
        except FhirError as err:
            self.failed(err)
            raise
        self.answered()

    def guard(self, server: FhirServerPort) -> FhirServerPort:
        """``server`` whose calls go through this breaker."""
        return cast(FhirServerPort, _Guarded(server, self))


class _Guarded(CallWrapper):
    def __init__(self, inner: Any, health: TargetHealth) -> None:
        super().__init__(inner)
        self._health = health

    def around(self, method: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not self._health.allow():
            raise TargetUnavailable(f"{self._health.name}: not tried, the EHR did not answer the last "
                                    f"{self._health.failures} requests (breaker open until a probe answers)")
        try:
            result = method(*args, **kwargs)
        except FhirError as err:
            self._health.failed(err)
            raise
        if isinstance(result, Iterator):  # a search: its requests happen while iterating
            return self._health.watch(result)
        self._health.answered()
        return result


@dataclass
class HealthAwareBackoff(Backoff):
    """``Backoff`` aware of the target's breaker. While it is open, an entry is due again just after the next
    probe (spread over half the wait, at least ``base``), so the backlog follows the probe as soon as the EHR
    answers it rather than up to ``cap`` later; and its attempts do not count toward dead-lettering."""

    health: TargetHealth | None = None

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if self.health is None or not self.health.open:
            return super().delay(attempt, retry_after)
        wait = self.health.until_probe()
        after_probe = wait + float(self.rand()) * max(wait, self.base) / 2
        return max(after_probe, min(retry_after, RETRY_AFTER_MAX)) if retry_after is not None else after_probe

    def exhausted(self, attempt: int) -> bool:
        return super().exhausted(attempt) and not (self.health is not None and self.health.open)
