"""Memory benchmark: RSS and the top tracemalloc growth of the service as distinct episodes go in.

    .venv/bin/python bench/memory_bench.py inprocess --sizes 1000 10000 50000 [--trace 25]
    .venv/bin/python bench/memory_bench.py gunicorn --sizes 1000 10000 100000 [--env MALLOC_ARENA_MAX=2]

``inprocess``: ``create_app`` on SQLite in a temp dir, Flask's test client POSTing distinct synthetic episodes
(``service/synthetic.py``, fresh patients) one after another; at each size (FHIR resources written) it prints
the process's RSS and peak RSS and, with ``--trace N``, the N tracebacks whose live memory grew the most since
the previous size (tracemalloc, 8 frames; slows the run about 3x).

``gunicorn``: ``etmi-fhir serve`` (2 workers x 4 threads, as bench/run's ingest section) with 4 client threads
in this process; at each size the RSS and peak RSS (VmHWM) of every gunicorn worker. ``--env K=V`` goes to
the server only (e.g. ``MALLOC_ARENA_MAX=2``, to compare glibc arena settings in one run: ``--compare``).

Figures and findings: ``bench/profiles/memory.md``.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
PATH = "/api/v1/episodes"


def status_kib(pid: int | str, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def payloads(seed: int) -> Iterator[bytes]:
    from service.synthetic import synthetic_episode

    i = 0
    while True:
        yield orjson.dumps(synthetic_episode(i, seed=seed))
        i += 1


def _top_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int, depth: int = 6) -> None:
    """The ``n`` tracebacks whose live memory grew most, the allocating frame first (``a < its caller``)."""
    stats = after.compare_to(before, "traceback")
    total = sum(s.size_diff for s in stats)
    print(f"  traced growth since previous size: {total / 1024:,.0f} KiB; top {n}:")
    for s in [s for s in stats if s.size_diff > 0][:n]:
        frames = [f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno}" for f in reversed(s.traceback)]
        print(f"  {s.size_diff / 1024:>9,.0f} KiB {s.count_diff:>+8,} blocks  {' < '.join(frames[:depth])}")


def _deep_bytes(key: Any) -> int:
    if isinstance(key, tuple):
        return sys.getsizeof(key) + sum(_deep_bytes(k) for k in key)
    return sys.getsizeof(key) if isinstance(key, bytes | str) else 0


def cache_census() -> str:
    """Entries and key bytes of the validator's caches (every invariant Part and ConstraintGroup, the engine's
    memo, the narrative div cache): what a long-running process keeps between requests."""
    from service import validation
    from service.validation import invariants, natives

    kinds = tuple(k for k in (getattr(invariants, n, None) for n in ("Part", "ConstraintGroup")) if isinstance(k, type))
    found = (getattr(o, "cache", None) for o in gc.get_objects() if isinstance(o, kinds))
    caches: list[dict[Any, Any]] = [c for c in found if isinstance(c, dict)]
    used = [c for c in caches if c]
    entries = sum(len(c) for c in used)
    key_bytes = sum(_deep_bytes(k) for c in used for k in c)
    memo = validation.default_engine().memo
    memo_bytes = sum(_deep_bytes(k) for k in memo)
    div_cache: dict[str, Any] = getattr(natives, "_DIV_CACHE", {})
    divs = sum(sys.getsizeof(k) for k in div_cache)
    return (f"invariant caches: {len(used)} of {len(caches)} used, {entries:,} entries, key lengths "
            f"{key_bytes / 2**20:.1f} MiB, {entries * 4 / 1024:.1f} MiB if each keeps orjson's 4 KiB buffer "
            f"(largest {max((len(c) for c in used), default=0)} of {getattr(invariants, '_CACHE_LIMIT', '?')}); "
            f"engine memo "
            f"{len(memo):,} entries, keys {memo_bytes / 2**20:.1f} MiB; div cache {len(div_cache)}, "
            f"{divs / 2**20:.1f} MiB")


def exact_invariant_keys() -> None:
    """Experiment (rss-findings.md): the invariant caches keyed by exact-size copies of orjson's bytes."""
    import types

    from service.validation import invariants

    def dumps(value: Any) -> bytes:
        return bytes(memoryview(orjson.dumps(value)))

    invariants.orjson = types.SimpleNamespace(dumps=dumps)  # type: ignore[assignment,attr-defined]


def inprocess(sizes: list[int], trace: int, seed: int, census: bool = False) -> None:
    import dataclasses

    from service.app import create_app
    from service.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = dataclasses.replace(Settings(database_url=f"sqlite:///{tmp}/m.db", auth_mode="none"),
                                       log_level="WARNING")
        app = create_app(settings)
        client = app.test_client()
        source = payloads(seed)
        post: Callable[[], int] = lambda: _post_one(client, next(source))  # noqa: E731
        post()  # warm: definitions, first compile
        if trace:
            tracemalloc.start(8)
        previous = tracemalloc.take_snapshot() if trace else None
        written, episodes, started = 0, 0, time.monotonic()
        for size in sizes:
            while written < size:
                written += post()
                episodes += 1
            gc.collect()
            print(f"{written:>7} resources ({episodes} episodes, {time.monotonic() - started:.0f} s): "
                  f"RSS {mib(status_kib('self', 'VmRSS'))} MiB, peak {mib(status_kib('self', 'VmHWM'))} MiB"
                  + (f", traced {tracemalloc.get_traced_memory()[0] / 2**20:.1f} MiB" if trace else ""), flush=True)
            if census:
                print("  " + cache_census(), flush=True)
            if trace and previous is not None:
                current = tracemalloc.take_snapshot()
                _top_growth(previous, current, trace)
                previous = current
        app.extensions["etmi"].store.close()


def _post_one(client: Any, body: bytes) -> int:
    response = client.post(PATH, data=body, content_type="application/json")
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    return len(response.get_json()["resources"])


def _workers(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        out += [int(c) for c in task.read_text().split()]
    return out


def gunicorn(sizes: list[int], env_extra: dict[str, str], seed: int, clients: int) -> list[dict[str, Any]]:
    from api_bench import _free_port, _wait

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        env = {**os.environ, "ETMI_AUTH_MODE": "none", "ETMI_LOG_LEVEL": "WARNING",
               "ETMI_DATABASE_URL": f"sqlite:///{tmp}/m.db", **env_extra}
        server = subprocess.Popen([str(Path(sys.executable).with_name("etmi-fhir")), "serve", "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait(base + "/readyz")
            source, lock = payloads(seed), threading.Lock()
            written, started = [0], time.monotonic()
            for size in sizes:
                _drive(base, source, lock, written, size, clients)
                workers = _workers(server.pid)
                rss = [mib(status_kib(w, "VmRSS")) for w in workers]
                hwm = [mib(status_kib(w, "VmHWM")) for w in workers]
                rows.append({"size": written[0], "rss": rss, "hwm": hwm})
                print(f"{written[0]:>7} resources ({time.monotonic() - started:.0f} s) {env_extra or ''}: "
                      f"workers RSS {rss} MiB, peak {hwm} MiB", flush=True)
        finally:
            os.killpg(server.pid, 15)
            server.wait(30)
    return rows


def _drive(base: str, source: Iterator[bytes], lock: threading.Lock, written: list[int], size: int,
           clients: int) -> None:
    def worker() -> None:
        session = requests.Session()
        while True:
            with lock:
                if written[0] >= size:
                    return
                body = next(source)
            r = session.post(base + PATH, data=body, headers={"Content-Type": "application/json"}, timeout=120)
            assert r.status_code == 201, r.text[:300]
            with lock:
                written[0] += len(r.json()["resources"])

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("inprocess", "gunicorn"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--trace", type=int, default=0, help="inprocess: top N tracemalloc growths per size")
    parser.add_argument("--census", action="store_true", help="inprocess: the validator's caches at each size")
    parser.add_argument("--exact-keys", action="store_true", help="inprocess: try exact-size invariant cache keys")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--env", action="append", default=[], help="gunicorn: K=V for the server only")
    parser.add_argument("--compare", action="store_true", help="gunicorn: also run without --env, then compare")
    args = parser.parse_args()
    if args.mode == "inprocess":
        if args.exact_keys:
            exact_invariant_keys()
        inprocess(args.sizes, args.trace, args.seed, args.census)
        return 0
    extra = dict(kv.split("=", 1) for kv in args.env)
    runs = {"with": gunicorn(args.sizes, extra, args.seed, args.clients)}
    if args.compare:
        runs["without"] = gunicorn(args.sizes, {}, args.seed, args.clients)
    for name, rows in runs.items():
        first, last = max(rows[0]["hwm"]), max(rows[-1]["hwm"])
        print(f"{name} {extra if name == 'with' else '{}'}: largest worker peak {first} -> {last} MiB "
              f"({last / first:.2f}x from {rows[0]['size']} to {rows[-1]['size']} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
