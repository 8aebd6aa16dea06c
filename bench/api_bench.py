"""Ingest benchmark: POST /api/v1/episodes under gunicorn vs a bare Flask endpoint, same run.

    .venv/bin/python bench/api_bench.py --requests 300 --concurrency 4 --workers 2

The service runs with ``etmi-fhir serve`` (SQLite in a temp dir, auth off) and the baseline is a bare
Flask app under the same gunicorn settings whose endpoint parses the JSON body and returns the
service's own response body for an episode. The load generator is a second process on loopback
(threads with keep-alive sessions) posting distinct synthetic episodes (``service/synthetic.py``).
Prints throughput and p50/p99 latency of both, and the ratios.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import requests
from common import peak_rss_tree

ROOT = Path(__file__).resolve().parents[1]
PATH = "/api/v1/episodes"
WARM = 20  # warm-up requests per server (validator definitions, connection pools)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:  # still starting (slow on a loaded machine)
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _baseline_server(port: int, body_file: str, workers: int, threads: int) -> None:
    """A bare Flask app under gunicorn: parse the JSON body, answer the canned service response."""
    from flask import Flask, Response, request
    from gunicorn.app.base import BaseApplication

    body = Path(body_file).read_bytes()
    app = Flask("baseline", root_path=str(ROOT))

    @app.post(PATH)
    def ingest() -> Response:
        request.get_json()
        return Response(body, status=201, mimetype="application/json")

    @app.get("/healthz")
    def health() -> Response:
        return Response(b"{}", mimetype="application/json")

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {
                "bind": f"127.0.0.1:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "accesslog": None,
            }.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    Server().run()


def _load(base: str, payloads: list[bytes], concurrency: int, out: Any, close: bool = False) -> None:
    """Load generator (its own process): ``concurrency`` threads, keep-alive (``close``: a new connection per
    request), one POST per payload."""
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    index = iter(range(len(payloads)))

    def worker() -> None:
        session = requests.Session()
        headers = {"Content-Type": "application/json", **({"Connection": "close"} if close else {})}
        while True:
            with lock:
                i = next(index, None)
            if i is None:
                return
            start = time.perf_counter()
            response = session.post(base + PATH, data=payloads[i], headers=headers, timeout=60)
            took = time.perf_counter() - start
            with lock:
                latencies.append(took)
                if response.status_code not in (200, 201):
                    errors.append(response.status_code)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"wall": time.perf_counter() - started, "latencies": latencies, "errors": errors})


def _run_load(base: str, payloads: list[bytes], concurrency: int, close: bool = False) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_load, args=(base, payloads, concurrency, queue, close))
    proc.start()
    result: dict[str, Any] = queue.get()
    proc.join()
    lat = sorted(result["latencies"])
    return {
        "rps": len(lat) / result["wall"],
        "p50": statistics.median(lat) * 1000,
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "errors": result["errors"],
        "n": len(lat),
    }


def _workers_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each child of ``pid`` (the gunicorn workers), from /proc."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return {}
    seconds = {}
    for child in map(int, children):
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        seconds[child] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def _spread(before: dict[int, float], after: dict[int, float]) -> list[float]:
    """CPU seconds each worker spent during the load: with keep-alive clients, a worker may get most of them."""
    return sorted((round(after[p] - before.get(p, 0.0), 1) for p in after), reverse=True)


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)


def _fresh_database(url: str) -> tuple[str, str]:
    """A new empty database on the PostgreSQL server of ``url``: (its URL, its name)."""
    from sqlalchemy import create_engine, text

    name = f"etmi_bench_{os.getpid()}_{int(time.time())}"
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{url.rpartition('/')[0]}/{name}", name


def _drop_database(url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--database-url", default="",
        help="default: SQLite in a temp dir; a postgresql:// (or postgresql+psycopg://) URL gets a fresh database "
             "on that server, dropped afterwards (the URL's own database is never written)",
    )
    parser.add_argument("--close", action="store_true",
                        help="a new connection per request (keep-alive clients stay on the gunicorn worker that "
                             "accepted them, so 4 clients may load one worker of 2: see the CPU seconds per worker)")
    parser.add_argument("--baseline-server", nargs=2, metavar=("PORT", "BODY_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        _baseline_server(int(args.baseline_server[0]), args.baseline_server[1], args.workers, args.threads)
        return 0
    sys.path.insert(0, str(ROOT))
    from service.synthetic import synthetic_episode

    payloads = [orjson.dumps(synthetic_episode(i, seed=7)) for i in range(args.requests + WARM)]
    postgres = args.database_url.startswith(("postgresql://", "postgresql+"))
    fresh = _fresh_database(args.database_url) if postgres else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            database = fresh[0] if fresh else (args.database_url or f"sqlite:///{tmp}/bench.db")
            ours, bare, per_episode = _measure(args, payloads, database, Path(tmp))
    finally:
        if fresh:
            _drop_database(args.database_url, fresh[1])
    _report(args, ours, bare, per_episode)
    return 1 if ours["errors"] or bare["errors"] else 0


def _measure(args: argparse.Namespace, payloads: list[bytes], database: str, tmp: Path,
             extra_env: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Load the service, then the baseline (one after the other, never at the same time).

    ``ours["rss"]`` / ``bare["rss"]``: peak RSS of the gunicorn master and of its largest worker, read
    before each server stops. ``extra_env`` (e.g. ``ETMI_SYNC_TARGETS``) goes to the service only."""
    close = bool(getattr(args, "close", False))  # bench/pipeline.py passes its own Namespace
    env = {**os.environ, "ETMI_AUTH_MODE": "none", "ETMI_LOG_LEVEL": "WARNING", "ETMI_DATABASE_URL": database}
    sizing = ["--workers", str(args.workers), "--threads", str(args.threads)]
    port = _free_port()
    service = _start([str(Path(sys.executable).with_name("etmi-fhir")), "serve", "--port", str(port), *sizing],
                     {**env, **(extra_env or {})})
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/readyz")
        sample = requests.post(base + PATH, data=payloads[0], headers={"Content-Type": "application/json"})
        assert sample.status_code == 201, sample.text[:500]
        _run_load(base, payloads[1:WARM], args.concurrency)
        cpu = _workers_cpu(service.pid)
        ours = _run_load(base, payloads[WARM:], args.concurrency, close)
        ours["rss"], ours["cpu"] = peak_rss_tree(service.pid), _spread(cpu, _workers_cpu(service.pid))
    finally:
        _stop(service)
    body_file = tmp / "body.json"
    body_file.write_bytes(sample.content)
    bport = _free_port()
    baseline = _start([sys.executable, __file__, *sizing, "--baseline-server", str(bport), str(body_file)], env)
    try:
        bbase = f"http://127.0.0.1:{bport}"
        _wait(bbase + "/healthz")
        _run_load(bbase, payloads[1:WARM], args.concurrency)
        cpu = _workers_cpu(baseline.pid)
        bare = _run_load(bbase, payloads[WARM:], args.concurrency, close)
        bare["rss"], bare["cpu"] = peak_rss_tree(baseline.pid), _spread(cpu, _workers_cpu(baseline.pid))
    finally:
        _stop(baseline)
    return ours, bare, len(sample.json()["resources"])


def _report(args: argparse.Namespace, ours: dict[str, Any], bare: dict[str, Any], per_episode: int) -> None:
    print(
        f"{args.requests} distinct episodes, concurrency {args.concurrency}, gunicorn {args.workers} workers x "
        f"{args.threads} threads, {os.cpu_count()} cores; first episode = {per_episode} FHIR resources"
        + ("; a new connection per request" if getattr(args, "close", False) else "; keep-alive connections")
    )
    print("| endpoint | episodes/s | p50 ms | p99 ms | errors | peak RSS of a gunicorn worker, MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in (
        ("POST /api/v1/episodes (map, validate, store, outbox)", ours),
        ("baseline: bare Flask, parse body, same response JSON", bare),
    ):
        print(f"| {name} | {r['rps']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} | {len(r['errors'])} "
              f"| {r['rss']['largest_child_mib']} |")
    print(f"CPU seconds per gunicorn worker during the load: service {ours['cpu']}, baseline {bare['cpu']}")
    print(
        f"ratio: throughput {bare['rps'] / ours['rps']:.1f}x lower, p50 {ours['p50'] / bare['p50']:.1f}x, "
        f"p99 {ours['p99'] / bare['p99']:.1f}x"
    )


if __name__ == "__main__":
    sys.exit(main())
