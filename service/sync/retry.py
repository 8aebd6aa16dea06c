"""When to try again: exponential backoff with full jitter, or the server's ``Retry-After``.

``delay(attempt)`` for attempt 1, 2, 3 … is uniform in ``[base·2^(n-1)/2, base·2^(n-1)]`` capped at
``cap`` (half jitter: spreads a thundering herd, never retries sooner than half the nominal delay).
A ``Retry-After`` from a 429/503 wins when it is longer (up to an hour).
After ``max_attempts`` retryable failures the entry is dead-lettered: no endless retry loop.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

RETRY_AFTER_MAX = 3600.0


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
