"""The engine's memo of validated complex values (``Walker.item``): keys, bound and eviction.

A value is keyed by (its element, its type, its JSON): an exact copy of the JSON up to ``MEMO_RAW_BYTES``,
else a 16-byte digest of it with a NUL first (JSON text never starts with one), so an entry stays under
~0.4 KiB. Each entry is ``[issues, stamp]``, the stamp of the walk that last used it; when the memo holds
``MEMO_LIMIT`` entries the least recently used half is dropped: a few MiB whatever the number of resources
validated (an import of 100,000 rows, a long-running service), docs/import-export.md.
"""

from __future__ import annotations

import itertools

from service.validation.budget import key_bytes
from service.validation.protocols import Memo

#: Values whose JSON is longer are not memoised.
MEMO_MAX_BYTES = 4096
MEMO_RAW_BYTES = 256
MEMO_LIMIT = 8192
#: One stamp per walk (``Walker.stamp``).
CLOCK = itertools.count()


def keep_recent(memo: Memo) -> None:
    """Drop the least recently used half of the memo (every MEMO_LIMIT / 2 insertions), in place. The median stamp
    is found by sorting the stamps alone: ints, no tuple per entry, so no burst of container allocations to start
    a garbage collection over the whole heap. Entries last used before it go; if that frees under a quarter (one
    walk stamped most of them), those used at it go too, so the memo never stays full."""
    stamps = sorted([entry[1] for entry in memo.values()])
    cut = stamps[len(stamps) // 2]
    old = [key for key, entry in memo.items() if entry[1] < cut]
    if len(old) < len(stamps) // 4:
        old = [key for key, entry in memo.items() if entry[1] <= cut]
    for key in old:
        del memo[key]


def memo_bytes(dumped: bytes) -> bytes:
    """The key's bytes for a value's JSON: the JSON itself (copied when stored) or its digest."""
    return key_bytes(dumped, MEMO_RAW_BYTES)
