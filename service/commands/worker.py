"""``etmi-fhir worker``: the sync worker loop (push due outbox entries; poll EHR edits now and then).

Run one or several (processes or ``--threads``): the outbox claim is per-patient FIFO under a
lease, so workers never write for the same patient at once, and a worker killed mid-send leaves
its entries to be re-claimed when the lease runs out (the re-send is idempotent). SIGTERM/SIGINT
finish the current round and exit 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType

from service.commands.sync import add_common, runtime
from service.compose import SyncRuntime
from service.config import Settings
from service.sync.push import PushReport

HELP = "run the EHR sync worker loop (push outbox entries, poll CarePlan/Goal edits)"
log = logging.getLogger("etmi.sync.worker")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--worker-id", help="default: <host>-<pid>")
    parser.add_argument("--threads", type=int, default=1, help="push threads in this process")
    parser.add_argument("--idle", type=float, default=2.0, help="seconds to wait when nothing is due")
    parser.add_argument("--pull-every", type=float, default=60.0, help="seconds between pulls (0: never)")
    parser.add_argument("--batch-size", type=int, help="entries claimed per round (default: the target's)")
    parser.add_argument("--exit-when-idle", action="store_true", help="stop once nothing is due (tests, cron)")
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on 127.0.0.1:PORT (push/pull "
                                                         "latency of this worker, outbox gauges); default: off")


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
        "threads": max(1, args.threads), "idle_s": args.idle, "pull_every_s": args.pull_every})
    stop_metrics = _metrics(args, rt)
    threads = [threading.Thread(target=_push_loop, args=(rt, f"{base_id}-{i}", args, stop), daemon=True)
               for i in range(max(1, args.threads))]
    for t in threads:
        t.start()
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
        for t in threads:
            t.join(timeout=60)
        stop_metrics()
        rt.store.close()
    return 0


def _metrics(args: argparse.Namespace, rt: SyncRuntime) -> Callable[[], None]:
    if args.metrics_port is None:
        return lambda: None
    from service.api.metrics import serve_worker_metrics

    log.info("sync.worker.metrics", extra={"event": "worker_metrics", "port": args.metrics_port})
    return serve_worker_metrics(args.metrics_port, rt.store, [t.name for t in rt.targets])


def _push_loop(rt: SyncRuntime, worker_id: str, args: argparse.Namespace, stop: threading.Event) -> None:
    pusher = rt.pusher(worker_id)
    while not stop.is_set():
        started = time.perf_counter()
        try:
            report = pusher.run_once(args.batch_size)
        except Exception:  # a store or config failure must not kill the worker silently
            log.exception("sync.worker.round_failed")
            stop.wait(args.idle)
            continue
        if report.claimed:
            _observe_round(time.perf_counter() - started, report)
            log.info("sync.worker.round", extra={"event": "push_round", "worker": worker_id, "claimed": report.claimed,
                                                 "sent": report.sent, "retried": report.retried, "dead": report.dead})
            continue
        if args.exit_when_idle:
            return
        stop.wait(args.idle)


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
    from service.api.metrics import PULL

    started = time.perf_counter()
    try:
        rt.puller().run_once()
    except Exception:
        log.exception("sync.worker.pull_failed")
        PULL.labels("error").observe(time.perf_counter() - started)
        return
    PULL.labels("ok").observe(time.perf_counter() - started)
