"""The engine's memo of validated complex values (``Walker.item``): keys, bound and eviction.

A value is keyed by (its element, its type, its JSON): an exact copy of the JSON up to ``MEMO_RAW_BYTES``,
else a 16-byte digest of it with a NUL first (JSON text never starts with one), so an entry stays under
~0.4 KiB. Each entry is ``[issues, stamp]``, the stamp of the walk that last used it; when the memo holds
``MEMO_LIMIT`` entries the least recently used half is dropped: a few MiB whatever the number of resources
validated (an import of 100,000 rows, a long-running service), docs/import-export.md. Elements whose values
rarely repeat are walked without the memo for a while (``judge``).
"""

from __future__ import annotations

import itertools
from typing import Any

from service.validation.budget import key_bytes
from service.validation.compiler import Elem
from service.validation.protocols import Memo

#: Values whose JSON is longer are not memoised.
MEMO_MAX_BYTES = 4096
MEMO_RAW_BYTES = 256
MEMO_LIMIT = 8192
#: One stamp per walk (``Walker.stamp``).
CLOCK = itertools.count()
#: Names shared by elements in memo keys (``memo_id``), negated.
_NAMES = itertools.count(1)
#: An element's values keyed by a digest are looked up PROBE times; if under one in MIN_HITS was found, its next
#: SKIP values are walked without the memo (no JSON, digest or entry for values that never repeat, such as each
#: resource's narrative), then it is probed again.
PROBE = 128
MIN_HITS = 16
SKIP = 4096


def memo_id(elem: Elem, shared: dict[tuple[Any, ...], list[int]]) -> int:
    """The element's name in memo keys, kept in ``elem.memo_use``: its ``id``, or one name shared by the elements
    that check a value alike, with one ``memo_use`` for all of them. An element with no children, slices,
    invariants, fixed value or pattern of its own (``Observation.subject`` in each ETMI profile) is named by what
    its values' checks read of it: its path in the definitions, name, types, targets, binding, maxLength,
    extension URL and system type."""
    own = (elem.children, elem.fixed, elem.pattern, elem.type_children, elem.slices, elem.constraints)
    if not all(part is None or part in ({}, ()) for part in own):
        elem.memo_use[3] = id(elem)
        return id(elem)
    signature = (elem.definition, elem.name, tuple(elem.types.items()), elem.targets, elem.canonical_targets,
                 elem.binding, elem.max_length, elem.ext_url, elem.system_type)  # fmt: skip
    if not elem.memo_use[3]:
        elem.memo_use[3] = -next(_NAMES)  # negative: never an id(); drawn before the list can be shared (threads)
    use = elem.memo_use = shared.setdefault(signature, elem.memo_use)
    return use[3]


def judge(use: list[int], hit: bool) -> None:
    """Counts one lookup of an element's value (``Elem.memo_use``); the results are the same either way."""
    use[0] += 1
    if hit:
        use[1] += 1
    if use[0] >= PROBE:
        if use[1] * MIN_HITS < use[0]:
            use[2] = SKIP
        use[0] = use[1] = 0


def keep_recent(memo: Memo) -> None:
    """Drop the least recently used half of the memo (every MEMO_LIMIT / 2 insertions), in place. The median stamp
    is found by sorting the stamps alone: ints, no tuple per entry, so no burst of container allocations to start
    a garbage collection over the whole heap. Entries last used before it go; if that frees under a quarter (one
    walk stamped most of them), those used at it go too, so the memo never stays full. A worker's threads share
    the memo, so it is read from a ``dict.copy`` (no Python code runs while that reads the dict, so no other thread
    can add to it meanwhile; ``list(memo.items())`` allocates a tuple per entry, and a collection started by one
    may run a finaliser and switch threads) and a key another thread dropped first is skipped."""
    entries = memo.copy().items()
    stamps = sorted([entry[1] for _, entry in entries])
    cut = stamps[len(stamps) // 2]
    old = [key for key, entry in entries if entry[1] < cut]
    if len(old) < len(stamps) // 4:
        old = [key for key, entry in entries if entry[1] <= cut]
    for key in old:
        memo.pop(key, None)


def memo_bytes(dumped: bytes) -> bytes:
    """The key's bytes for a value's JSON: the JSON itself (copied when stored) or its digest."""
    return key_bytes(dumped, MEMO_RAW_BYTES)
