"""One byte budget shared by the validator's result caches (every invariant part and group of every engine).

Each cache is bounded in entries too, but there is one per invariant part: 239 of them in R4 and the ETMI
profiles, so per-cache bounds alone would allow hundreds of MiB. The budget counts what each insertion adds
(its key's bytes plus the dict slot, key tuple and value, about ``ENTRY_OVERHEAD``) and empties every cache
when the total passes ``LIMIT_BYTES``: what the caches hold stays under a few MiB whatever the number of
resources validated, and a hot cache refills in a few validations.
"""

from __future__ import annotations

import threading
import weakref
from hashlib import blake2b
from typing import Any, Protocol

LIMIT_BYTES = 8 * 1024 * 1024
ENTRY_OVERHEAD = 200


def key_bytes(dumped: bytes, raw_limit: int) -> bytes:
    """A cache key for a value's JSON: the JSON itself up to ``raw_limit`` bytes (``dumped`` as it is: copy it
    before keeping it, orjson's bytes hold a 4 KiB buffer) or a 16-byte digest with a NUL first (JSON text never
    starts with one)."""
    if len(dumped) <= raw_limit:
        return dumped
    return b"\0" + blake2b(dumped, digest_size=16).digest()


class _Owner(Protocol):
    cache: dict[Any, Any]


class CacheBudget:
    def __init__(self, limit_bytes: int = LIMIT_BYTES) -> None:
        self.limit = limit_bytes
        self.held = 0
        self._owners: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def register(self, owner: _Owner) -> None:
        with self._lock:
            self._owners.add(owner)

    def spend(self, key_bytes: int) -> None:
        """Counts one new entry; past the limit, every registered cache is emptied."""
        self.held += key_bytes + ENTRY_OVERHEAD
        if self.held > self.limit:
            with self._lock:
                owners = list(self._owners)
                self.held = 0
            for owner in owners:
                owner.cache.clear()


#: The budget of the invariant caches (service/validation/invariants.py).
INVARIANTS = CacheBudget()
