"""``etmi-fhir worker``: the sync worker loop (push due outbox entries; poll EHR edits now and then).

Run one or several (processes or ``--threads``): the outbox claim is per-patient FIFO under a lease, so workers
never write for the same patient at once, and a worker killed mid-send leaves its entries to be re-claimed when the
lease runs out (the re-send is idempotent). SIGTERM/SIGINT finish the current round and exit 0. A thread with
nothing due waits ``--idle`` seconds at most: a committed outbox row wakes it sooner (``service/store/wakeup.py``).

Concurrency: as many push threads as the largest ``concurrency`` of the targets (4 unless configured); per target
at most that many requests in flight from this process, and one ``rate_limit`` budget shared by the threads.

Faults: each EHR target has a breaker shared by this process's threads (``service/sync/retry.py``): in a
long outage one probe at a time reaches the EHR and no entry is dead-lettered for it. A push loop that
raises an unexpected exception (a database gone, a bug) restarts after a backed-off pause, counted in
``etmi_worker_restarts_total``; after ``--max-restarts`` restarts within ``--restart-window`` seconds the
worker stops and exits 70 (EX_SOFTWARE) so its supervisor sees a crash loop rather than a quiet one.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, cast

from service.commands.sync import add_common, runtime
from service.compose import SyncRuntime
from service.config import Settings
from service.store.wakeup import Wakeup, watch
from service.sync.ports import FhirError, FhirServerPort
from service.sync.push import Pusher, PushReport
from service.sync.retry import Backoff, HealthAwareBackoff, TargetHealth
from service.sync.targets import Target
from service.sync.wrap import CallWrapper

HELP = "run the EHR sync worker loop (push outbox entries, poll CarePlan/Goal edits)"
log = logging.getLogger("etmi.sync.worker")
CRASH_LOOP_EXIT = 70  # EX_SOFTWARE: too many restarts in the window


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--worker-id", help="default: <host>-<pid>")
    parser.add_argument("--threads", type=int, help="push threads in this process (default: the largest "
                                                     "concurrency of the targets, 4 unless configured)")
    parser.add_argument("--idle", type=float, default=2.0, help="most seconds to wait when nothing is due")
    parser.add_argument("--pull-every", type=float, default=60.0, help="seconds between pulls (0: never)")
    parser.add_argument("--batch-size", type=int, help="entries claimed per round (default: the target's)")
    parser.add_argument("--exit-when-idle", action="store_true", help="stop once nothing is due (tests, cron)")
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on 127.0.0.1:PORT (push/pull "
                                                         "latency of this worker, outbox gauges); default: off")
    parser.add_argument("--max-restarts", type=int, default=5,
                        help="push-loop restarts after unexpected errors within --restart-window (then exit 70)")
    parser.add_argument("--restart-window", type=float, default=300.0, help="seconds (see --max-restarts)")


@dataclass
class Restarts:
    """Bounded, backed-off restarts of the push loops of one worker process (shared by its threads)."""

    limit: int
    window: float
    backoff: Backoff = field(default_factory=lambda: Backoff(base=1.0, cap=60.0))
    times: deque[float] = field(default_factory=deque)
    exhausted: threading.Event = field(default_factory=threading.Event)
    resume_at: float = 0.0  # end of the current restart pause (monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def failed(self) -> float | None:
        """Record a failure: the pause before the restart, or None when the loop must give up."""
        with self._lock:
            return self._count(time.monotonic())

    def failure(self) -> tuple[float | None, bool]:
        """``(pause, counted)``: a thread failing during another's restart pause (one cause, such as the database
        gone, fails every thread) waits for the same pause, not counted as one more restart."""
        now = time.monotonic()
        with self._lock:
            return (self.resume_at - now, False) if now < self.resume_at else (self._count(now), True)

    def _count(self, now: float) -> float | None:
        self.times.append(now)
        while self.times and self.times[0] < now - self.window:
            self.times.popleft()
        if len(self.times) > self.limit:
            self.exhausted.set()
            return None
        pause = self.backoff.delay(len(self.times))
        self.resume_at = now + pause
        return pause


@dataclass
class Loop:
    """What every push thread of this process shares."""

    rt: SyncRuntime
    args: argparse.Namespace
    stop: threading.Event
    restarts: Restarts
    health: dict[str, TargetHealth]
    gates: dict[str, threading.BoundedSemaphore] = field(default_factory=dict)
    wakeup: Wakeup = field(default_factory=Wakeup)  # the outbox watcher's: a row was committed

    def __post_init__(self) -> None:
        for t in self.rt.targets:
            self.gates[t.name] = threading.BoundedSemaphore(t.concurrency)

    def pusher(self, worker_id: str) -> Pusher:
        """The runtime's pusher (its clients share the runtime's rate budget per target), behind this process's
        breakers and concurrency gates (one each per target, shared by the threads), its backoff aware of the
        breakers."""
        return self.rt.pusher(worker_id, guard=self.guard, backoff=self.backoff)

    def guard(self, target: Target, server: FhirServerPort) -> FhirServerPort:
        return self.health[target.name].guard(cast(FhirServerPort, _Gated(server, self.gates[target.name])))

    def backoff(self, target: Target) -> Backoff:
        return HealthAwareBackoff(target.backoff_base, target.backoff_cap, target.max_attempts,
                                  health=self.health[target.name])


def run(args: argparse.Namespace) -> int:
    rt = runtime(args)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("sync.worker.stopping", extra={"signal": signum})
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    base_id = args.worker_id or f"{socket.gethostname()}-{os.getpid()}"
    log.info("sync.worker.started", extra={
        "worker": base_id, "targets": [f"{t.name} {t.base_url}" for t in rt.targets],
        "database": _without_credentials(args.database_url or Settings.from_env().database_url),
        "threads": push_threads(args, rt.targets), "idle_s": args.idle, "pull_every_s": args.pull_every})
    stop_metrics = _metrics(args, rt)
    health = {t.name: TargetHealth(t.name, Backoff(t.backoff_base, t.backoff_cap)) for t in rt.targets}
    loop = Loop(rt, args, stop, Restarts(max(0, args.max_restarts), args.restart_window), health)
    threads = [threading.Thread(target=_push_loop, args=(loop, f"{base_id}-{i}"), daemon=True)
               for i in range(push_threads(args, rt.targets))]
    for t in threads:
        t.start()
    watch(rt.store.engine, loop.wakeup, stop)
    next_pull = time.monotonic()
    try:
        while True:  # the first pull runs even when the push threads are already idle (--exit-when-idle)
            if not stop.is_set() and args.pull_every > 0 and time.monotonic() >= next_pull:
                _safe_pull(rt)
                next_pull = time.monotonic() + args.pull_every
            if stop.is_set() or not any(t.is_alive() for t in threads):
                break
            stop.wait(0.5)
    finally:
        stop.set()
        loop.wakeup.close()
        for t in threads:
            t.join(timeout=60)
        stop_metrics()
        rt.store.close()
    return CRASH_LOOP_EXIT if loop.restarts.exhausted.is_set() else 0


def push_threads(args: argparse.Namespace, targets: list[Target]) -> int:
    """``--threads``, else the largest ``concurrency`` of the targets (more threads would only wait)."""
    return max(1, args.threads or max((t.concurrency for t in targets), default=1))


class _Gated(CallWrapper):
    """A target's client whose calls (and search pages) wait for a slot of the target's concurrency."""

    def __init__(self, inner: Any, gate: threading.BoundedSemaphore) -> None:
        super().__init__(inner)
        self._gate = gate

    def around(self, method: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with self._gate:
            result = method(*args, **kwargs)
        return self._pages(result) if isinstance(result, Iterator) else result

    def _pages(self, results: Iterator[Any]) -> Iterator[Any]:
        def step() -> Any:
            with self._gate:
                return next(results, _END)
        return iter(step, _END)


_END = object()


def _metrics(args: argparse.Namespace, rt: SyncRuntime) -> Callable[[], None]:
    if args.metrics_port is None:
        return lambda: None
    from service.api.metrics import RESTARTS, serve_worker_metrics

    for loop in ("push", "pull"):  # the series exist from the start, at 0 (an alert on increase() sees the first)
        RESTARTS.labels(loop)
    log.info("sync.worker.metrics", extra={"event": "worker_metrics", "port": args.metrics_port})
    return serve_worker_metrics(args.metrics_port, rt.store, [t.name for t in rt.targets])


def _push_loop(loop: Loop, worker_id: str) -> None:
    args, stop = loop.args, loop.stop
    pusher: Pusher | None = None
    while not stop.is_set():
        started = time.perf_counter()
        try:
            pusher = pusher or loop.pusher(worker_id)
            report = pusher.run_once(args.batch_size)
        except Exception:  # a store failure or a bug: restart the loop (a new pusher), backed off and bounded
            if not _restart(loop, worker_id):
                return
            pusher = None
            continue
        _observe_targets(loop.health)
        if report.claimed:
            _observe_round(time.perf_counter() - started, report)
            log.info("sync.worker.round", extra={"event": "push_round", "worker": worker_id, "claimed": report.claimed,
                                                 "sent": report.sent, "retried": report.retried, "dead": report.dead})
            continue
        if args.exit_when_idle:
            return
        loop.wakeup.wait(args.idle)


def _restart(loop: Loop, worker_id: str) -> bool:
    """After an unexpected exception: False when the restarts are used up (the worker stops, exit 70)."""
    from service.api.metrics import RESTARTS

    pause, counted = loop.restarts.failure()
    if not counted and pause is not None:
        log.info("sync.worker.waits_for_restart", extra={"worker": worker_id})
        loop.stop.wait(pause)
        return True
    if pause is None:
        log.exception("sync.worker.crash_loop", extra={"event": "crash_loop", "worker": worker_id,
                                                       "max_restarts": loop.restarts.limit,
                                                       "window_s": loop.restarts.window})
        loop.stop.set()
        return False
    RESTARTS.labels("push").inc()
    log.exception("sync.worker.restart", extra={"event": "restart", "worker": worker_id, "pause_s": round(pause, 2)})
    loop.stop.wait(pause)
    return True


def _observe_targets(health: dict[str, TargetHealth]) -> None:
    from service.api.metrics import TARGET_DOWN

    for name, h in health.items():
        TARGET_DOWN.labels(name).set(1 if h.open else 0)


def _without_credentials(url: str) -> str:
    """The database URL without user name and password (``postgresql+psycopg://host:5432/etmi``)."""
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(unparsable database URL)"
    bare = URL.create(parsed.drivername, host=parsed.host, port=parsed.port, database=parsed.database)
    return bare.render_as_string(hide_password=True)


def _observe_round(seconds: float, report: PushReport) -> None:
    from service.api.metrics import PUSH_ROUND, PUSHED

    PUSH_ROUND.observe(seconds)
    for result, n in (("sent", report.sent), ("retried", report.retried), ("dead", report.dead)):
        PUSHED.labels(result).inc(n)


def _safe_pull(rt: SyncRuntime) -> None:
    from service.api.metrics import PULL, RESTARTS

    started = time.perf_counter()
    try:
        rt.puller().run_once()
    except Exception as err:  # the EHR's errors are expected; anything else is counted as a restart
        log.exception("sync.worker.pull_failed")
        PULL.labels("error").observe(time.perf_counter() - started)
        if not isinstance(err, FhirError):
            RESTARTS.labels("pull").inc()
        return
    PULL.labels("ok").observe(time.perf_counter() - started)
