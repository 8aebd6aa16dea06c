"""Send a plan in the target's mode, in transactions as large as the target accepts, learning its size limit.

A target refuses a transaction for its size (``TooLargeError``: HTTP 413, Medplum's "has too many
entries"); a refused transaction wrote nothing, so the chunk is split and re-sent, down to one write,
then to single requests (a write, then its Provenance). The size that works is kept per target in the sync state
(``ChunkSizes``: the database every worker and process shares, key ``push-max-entries:<target>``), so
later pushes, by any worker, start at the learned size. A size refusal is never a dead letter.

Chunks come from one grid per target: blocks of ``max_entries - 1`` writes (the configured size, one
entry left for the Provenance), each halved ``depth`` times. A smaller learned size only splits cells
of a coarser grid, so every chunk of a later push starts where a chunk of an earlier one started. A
chunk's Provenance id is derived from its first write (``send.send_transaction_chunk``): after a lost
answer, a retry at a smaller size updates the Provenance the first attempt wrote and adds one for each
new chunk, so each resource stays covered by exactly one Provenance.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial

from service.sync.errors import TooLargeError
from service.sync.plan import Write
from service.sync.ports import SyncStatePort
from service.sync.send import SendContext, _annotated, send_batch, send_individually, send_transaction_chunk
from service.sync.targets import Target

log = logging.getLogger("etmi.sync.chunking")
KEY_PREFIX = "push-max-entries:"


@dataclass(frozen=True)
class Learned:
    """What a target taught about its transaction size (entries, the Provenance included)."""

    max_entries: int  # the size pushes use now: accepted, or not refused yet
    refused: int  # the smallest transaction it refused
    status: int | None  # the HTTP status of that refusal
    at: str  # when (ISO 8601, UTC)


class ChunkSizes:
    """The learned transaction size per target, in the sync state (``SyncStatePort`` cursors). Without a
    sync state (unit tests of the engine alone) it is kept in this object only."""

    def __init__(self, state: SyncStatePort | None, now: Callable[[], datetime] | None = None) -> None:
        self.state = state
        self.now = now or (lambda: datetime.now(UTC))
        self._memory: dict[str, str] = {}

    def learned(self, target: str) -> Learned | None:
        key = KEY_PREFIX + target
        raw = self.state.get_cursor(key) if self.state is not None else self._memory.get(key)
        if not raw:
            return None
        try:
            return Learned(**json.loads(raw))
        except (TypeError, ValueError):
            return None

    def max_entries(self, target: Target) -> int:
        """Entries per transaction for the next push: the configured size, or less once the target refused it."""
        found = self.learned(target.name)
        return min(target.max_entries, found.max_entries) if found else target.max_entries

    def lower(self, target: Target, max_entries: int, refused: int, status: int | None) -> None:
        """Remember ``max_entries`` for ``target`` unless a smaller size is known already."""
        found = self.learned(target.name)
        if found is not None and found.max_entries <= max_entries:
            return
        value = json.dumps(asdict(Learned(max_entries, refused, status, self.now().isoformat(timespec="seconds"))))
        if self.state is not None:
            self.state.set_cursor(KEY_PREFIX + target.name, value)
        else:
            self._memory[KEY_PREFIX + target.name] = value
        log.info("sync.transaction_size_learned",
                 extra={"target": target.name, "max_entries": max_entries, "refused": refused, "status": status})


def cell_size(block: int, depth: int) -> int:
    """The largest chunk of the grid at ``depth``: ``block`` halved ``depth`` times, rounding up."""
    return max(1, -(-block // (1 << depth)))


def depth_for(block: int, writes: int) -> int:
    """The coarsest depth whose chunks hold at most ``writes`` writes."""
    depth = 0
    while cell_size(block, depth) > max(1, writes):
        depth += 1
    return depth


def cell_end(pos: int, block: int, depth: int) -> int:
    """Where the grid's chunk that starts at (or holds) write ``pos`` ends."""
    start, size = pos - pos % block, block
    for _ in range(depth):
        if size <= 1:
            break
        half = -(-size // 2)
        if pos < start + half:
            size = half
        else:
            start, size = start + half, size - half
    return start + size


def smaller(block: int, writes: int) -> int:
    """The largest chunk size of the grid below ``writes`` (at least 1)."""
    depth = 0
    while cell_size(block, depth) >= writes and cell_size(block, depth) > 1:
        depth += 1
    return cell_size(block, depth)


def send_plan(plan: Sequence[Write], ctx: SendContext, sizes: ChunkSizes | None = None) -> None:
    """Send every write of ``plan`` that ``ctx`` has not sent yet, in the target's mode."""
    mode = ctx.target.mode
    if mode == "individual":
        send_individually(plan, ctx)
    elif mode == "batch":
        try:
            send_batch(plan, ctx)
        except TooLargeError:  # a batch too large for the server: what is left goes one request at a time
            send_individually(plan, ctx)
    else:
        send_transactions(plan, ctx, sizes or ChunkSizes(None))


def send_transactions(plan: Sequence[Write], ctx: SendContext, sizes: ChunkSizes) -> None:
    block = max(1, ctx.target.max_entries - 1)
    limit = [sizes.max_entries(ctx.target) - 1]  # writes per transaction (0: single requests), lowered on refusals
    _send_range(plan, 0, len(plan), ctx, sizes, block, limit)


def _send_range(plan: Sequence[Write], lo: int, hi: int, ctx: SendContext, sizes: ChunkSizes, block: int,
                limit: list[int]) -> None:
    pos = lo
    while pos < hi:
        end = min(hi, cell_end(pos, block, depth_for(block, limit[0])))
        chunk = plan[pos:end]
        try:
            if limit[0] < 1:  # even one write and its Provenance were refused as a transaction
                send_individually(chunk, ctx)
            else:
                _annotated(partial(send_transaction_chunk, chunk, plan, ctx), chunk)
        except TooLargeError as err:
            if limit[0] < 1:
                raise  # one resource alone is too large for the target: a RejectedError (dead letter)
            limit[0] = min(limit[0], smaller(block, end - pos) if end - pos > 1 else 0)
            sizes.lower(ctx.target, limit[0] + 1, end - pos + 1, err.status)
            _send_range(plan, pos, end, ctx, sizes, block, limit)
        pos = end
