"""Profile of ``POST /api/v1/episodes`` in process (cProfile, Flask test client, no HTTP server).
The summary is in ``bench/profiles/ingest.md``.

    .venv/bin/python bench/profiles/profile_ingest.py --episodes 200 [--top 30] [--out FILE.prof]

A fresh SQLite store with one sync target named (so each write queues its outbox row, as in the bench),
``--warm`` episodes written first (validator definitions, first connection), then ``--episodes`` distinct
episodes under cProfile. Prints the CPU ms per episode, the SQL statements per episode (SQLAlchemy cursor
events), then as many again under cProfile: the cumulative time of the write path's parts and the top
functions by own time. CPU ms per episode is measured without the profiler (its overhead is about 3x); the
profile's clock is wall time (``time.process_time`` is a system call per function: 10x overhead), so on
the shared VM read its figures as shares, not absolute costs.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PARTS = ("full_dispatch_request", "create_episode", "write", "mapped", "validate", "_store", "save_resources",
         "transaction_bundle", "enqueue", "audit", "keep_reply", "content_hash", "index_resource", "lock",
         "add_patient", "put_episode", "episode_issues", "audit_rows", "audit_event", "request_hash", "prepare",
         "<method 'execute' of 'sqlite3.Cursor' objects>", "<method 'executemany' of 'sqlite3.Cursor' objects>",
         "<method 'commit' of 'sqlite3.Connection' objects>", "commit", "flush")


class _GcClock:
    def __init__(self) -> None:
        self.seconds, self.runs, self.full, self._start = 0.0, 0, 0, 0.0

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.runs += 1
            self.full += info["generation"] == 2


def _gc_clock() -> _GcClock:
    clock = _GcClock()
    gc.callbacks.append(clock.callback)
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, help="write the .prof file here")
    parser.add_argument("--no-cprofile", action="store_true", help="only the unprofiled run (for py-spy)")
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() after the warm-up (as the server does)")
    args = parser.parse_args()
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from tests.sync.support import unique_episode

    statements: Counter[str] = Counter()
    counting = [False]

    @event.listens_for(Engine, "before_cursor_execute")
    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if counting[0]:
            statements[" ".join(statement.split())[:90]] += 1

    with tempfile.TemporaryDirectory(prefix="etmi-ingest-profile-") as tmp:
        os.environ.update({
            "ETMI_AUTH_MODE": "none", "ETMI_LOG_LEVEL": "ERROR", "ETMI_DATABASE_URL": f"sqlite:///{tmp}/p.db",
            "ETMI_SYNC_TARGETS": json.dumps({"targets": {"ehr": {"base_url": "http://127.0.0.1:9/fhir"}}}),
        })
        from service.app import create_app

        client = create_app().test_client()
        payloads = [orjson.dumps(unique_episode(i, seed=7)) for i in range(args.warm + 2 * args.episodes)]
        headers = {"Content-Type": "application/json"}

        def post(payload: bytes) -> None:
            response = client.post("/api/v1/episodes", data=payload, headers=headers)
            assert response.status_code == 201, response.data[:300]

        for payload in payloads[:args.warm]:
            post(payload)
        if args.freeze:
            gc.freeze()
        gc_time = _gc_clock()
        counting[0] = True
        cpu, wall = time.process_time(), time.perf_counter()
        for payload in payloads[args.warm:args.warm + args.episodes]:
            post(payload)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        counting[0] = False
        gc.callbacks.remove(gc_time.callback)
        profile = cProfile.Profile()
        profile.enable()
        for payload in payloads[args.warm + args.episodes:] if not args.no_cprofile else []:
            post(payload)
        profile.disable()
    n = args.episodes
    print(f"{n} episodes without the profiler: {cpu / n * 1000:.1f} ms CPU, {wall / n * 1000:.1f} ms wall per episode; "
          f"{sum(statements.values()) / n:.1f} SQL statements per episode; garbage collector "
          f"{gc_time.seconds / n * 1000:.1f} ms per episode ({gc_time.runs} collections, {gc_time.full} full; "
          f"{gc.get_freeze_count()} objects frozen)")
    for statement, calls in statements.most_common():
        print(f"  {calls / n:6.1f}/episode  {statement}")
    if args.out:
        profile.dump_stats(str(args.out))
    stats = pstats.Stats(profile)
    entries = stats.stats  # type: ignore[attr-defined]
    print("\nparts (cumulative ms per episode, own ms per episode, calls per episode):")
    rows = [(file, name, calls, own, cumulative) for (file, _, name), (_, calls, own, cumulative, _) in entries.items()
            if name in PARTS and ("service" in file or "mappings" in file or "validation" in file or file == "~"
                                  or name == "full_dispatch_request")]
    for file, name, calls, own, cumulative in sorted(rows, key=lambda r: -r[4]):
        where = f"{Path(file).parent.name}/{Path(file).name}:{name}" if file != "~" else name
        print(f"  {where:<64} {cumulative / n * 1000:7.2f} cum {own / n * 1000:7.2f} own {calls / n:6.1f} calls")
    print()
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
