"""Push throughput of the sync engine against real FHIR servers, as a ratio to a same-run baseline.

Baseline: one ``requests`` POST of each episode's transaction Bundle straight to the server (no outbox,
no planning, no Provenance, no id map): the cheapest correct way to put the same data there. Rows: the
engine (SQLite outbox → claim → plan → send → mark) in transaction mode with as many threads as a target's
default ``concurrency`` (what ``etmi-fhir worker`` runs by default) and with one thread, and in batch and
individual mode. Every run uses fresh synthetic patients, so nothing is a no-op.
Medplum caps conditional transactions at 8 entries, so its baseline is not possible; its rows are
compared with the engine's own transaction row instead. Run:

    .venv/bin/python bench/push_bench.py --hapi http://127.0.0.1:8080/fhir [--medplum URL] [--episodes 20]

Without URLs it starts a fresh Medplum test server (tests/servers/medplum) for each case.

Figures and the scaling table: bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.sync.targets import Target
from tests.servers.fixtures import ServerProcess
from tests.sync.support import (
    drain,
    enqueue_bundle,
    episode_bundle,
    new_store,
    pusher,
    target_for,
    unique_episode,
)

Row = tuple[str, float, int]
DEFAULT_CONCURRENCY = Target("default", "http://ehr").concurrency  # the worker's default push threads


def baseline(base: str, bundles: list[dict[str, Any]]) -> float:
    session = requests.Session()
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    start = time.perf_counter()
    for bundle in bundles:
        response = session.post(base, data=orjson.dumps(bundle), headers=headers, timeout=300)
        response.raise_for_status()
    return time.perf_counter() - start


def engine(name: str, base: str, bundles: list[dict[str, Any]], threads: int = 1, **options: Any) -> float:
    """Seconds for ``threads`` pushers (one per thread, as the worker's) to drain one outbox row per Bundle."""
    with tempfile.TemporaryDirectory() as tmp:
        store = new_store(Path(tmp))
        for i, bundle in enumerate(bundles):
            enqueue_bundle(store, bundle, f"patient-{i}")
        target = target_for(base, name, batch_size=max(1, len(bundles) // threads), **options)
        workers = [pusher(store, [target], f"w{i}") for i in range(threads)]
        start = time.perf_counter()
        runners = [threading.Thread(target=drain, args=(w, 1000)) for w in workers]
        for r in runners:
            r.start()
        for r in runners:
            r.join()
        took = time.perf_counter() - start
        counts = store.outbox.counts()
        store.close()
        if counts != {"sent": len(bundles)}:
            raise SystemExit(f"{name}: not everything was sent: {counts}")
        return took


def fresh(n: int, seed: int) -> list[dict[str, Any]]:
    return [episode_bundle(unique_episode(i, seed=seed)) for i in range(n)]


def run_server(name: str, base: str | None, n: int, modes: str = "all") -> list[Row]:
    """Every case on ``base``; with ``base`` None (Medplum started here), each case on a fresh server:
    Medplum's in-memory search scans every stored resource, so a case would pay for the ones before."""
    resources = len(fresh(1, 1)[0]["entry"])
    options: dict[str, Any] = {"max_entries": 8} if name == "medplum" else {}
    default = DEFAULT_CONCURRENCY
    cases: list[tuple[str, Callable[[str, list[dict[str, Any]]], float]]] = []
    if name != "medplum":
        cases.append(("baseline: raw transaction POST per episode", baseline))
    cases += [
        (f"engine, transaction mode, {default} threads", lambda url, b: engine(name, url, b, default, **options)),
        ("engine, transaction mode, 1 thread", lambda url, b: engine(name, url, b, **options)),
        ("engine, batch mode", lambda url, b: engine(name, url, b, default, mode="batch")),
        ("engine, individual requests", lambda url, b: engine(name, url, b, default, mode="individual")),
    ]
    if modes == "transaction":  # large runs: the baseline and the engine's default settings only
        cases = cases[:2] if name != "medplum" else cases[:1]
    rows: list[Row] = []
    for seed, (label, work) in enumerate(cases, start=100):
        server = ServerProcess("medplum", timeout=600) if base is None else None
        try:
            url = base or (server.url.rstrip("/") if server else "")
            rows.append((label, work(url, fresh(n, seed)), n * resources))
        finally:
            if server is not None:
                server.stop()
    return rows


def print_rows(name: str, rows: list[Row], n: int) -> None:
    reference = rows[0][1]
    print(f"\n{name}: {n} episodes, {rows[0][2] // n} resources each (+ Provenance per chunk for the engine)")
    print(f"| {'case':42} | {'seconds':>8} | {'episodes/s':>10} | {'resources/s':>11} | {'ratio':>6} |")
    print(f"|{'-' * 44}|{'-' * 10}:|{'-' * 12}:|{'-' * 13}:|{'-' * 8}:|")
    for label, took, resources in rows:
        print(f"| {label:42} | {took:8.2f} | {n / took:10.2f} | {resources / took:11.1f} | {took / reference:5.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hapi", help="HAPI FHIR base URL")
    parser.add_argument("--medplum", help="Medplum base URL")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--modes", choices=("all", "transaction"), default="all",
                        help="transaction: only the baseline and the engine's transaction mode (for large runs)")
    args = parser.parse_args()
    servers: list[tuple[str, str | None]] = []
    if args.hapi:
        servers.append(("hapi", args.hapi.rstrip("/")))
    if args.medplum:
        servers.append(("medplum", args.medplum.rstrip("/")))
    if not servers:
        servers.append(("medplum", None))
    for name, base in servers:
        print_rows(name, run_server(name, base, args.episodes, args.modes), args.episodes)

if __name__ == "__main__":
    main()
