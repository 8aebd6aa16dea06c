"""Scale-out benchmark: N service processes and M sync workers on one PostgreSQL database, HAPI as the EHR.

    source /tmp/etmi-servers.env
    .venv/bin/python bench/scaleout.py            # 100 episodes at 4 clients + 200 at 50, per N; --quick: 20 + 60

(a) Ingest: for N = 1, 2, 4 gunicorn processes (``etmi-fhir serve --workers N --threads 4``, a HAPI target
configured, so every write queues its outbox row) on a fresh database each, ``POST /api/v1/episodes`` of
distinct synthetic episodes from a second process at 4 and then at 50 clients, next to the bare Flask
endpoint of ``bench/api_bench.py`` under the same gunicorn settings. (b) Push: the backlog that run N
accepted is drained by M = N ``etmi-fhir worker`` processes at once (default target settings: its base URL
only), against a bare client posting other episodes' transaction Bundles to HAPI from M threads in the same
run (the EHR's limit at that parallelism). Then the exactly-once check: every Patient stored is on HAPI once,
with as many resources of each type as the database holds for it (Patient/$everything; no duplicate, none
missing). Prints markdown tables for docs/scale-out.md; exit 1 on any error or failed check.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import api_bench
import orjson
import requests
from common import ROOT, load_average, markdown
from pipeline import targets_json
from push_bench import baseline as bare_post
from sqlalchemy import create_engine, text

sys.path.insert(0, str(ROOT))

from tests.sync.support import episode_bundle, unique_episode

CLI = str(Path(sys.executable).with_name("etmi-fhir"))
FHIR = {"Accept": "application/fhir+json"}


def _admin(url: str) -> Any:
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new empty database on the PostgreSQL server of ``server`` (dropped afterwards)."""
    name = f"etmi_scale_{uuid.uuid4().hex[:10]}"
    with _admin(server).connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server.rpartition('/')[0]}/{name}"
    finally:
        with _admin(server).connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def ingest(database: str, hapi: str, processes: int, loads: list[tuple[int, list[bytes]]]) -> list[dict[str, Any]]:
    """The service then the bare endpoint, each at every (clients, payloads) of ``loads``."""
    env = {**os.environ, "ETMI_AUTH_MODE": "none", "ETMI_LOG_LEVEL": "WARNING", "ETMI_DATABASE_URL": database,
           "ETMI_SYNC_TARGETS": targets_json(hapi)}
    sizing = ["--workers", str(processes), "--threads", "4"]
    port = api_bench._free_port()
    rows: list[dict[str, Any]] = []
    service = api_bench._start([CLI, "serve", "--port", str(port), *sizing], env)
    try:
        base = f"http://127.0.0.1:{port}"
        api_bench._wait(base + "/readyz", timeout=120)
        warm = [orjson.dumps(unique_episode(i, seed=5)) for i in range(api_bench.WARM)]
        sample = requests.post(base + api_bench.PATH, data=warm[0], headers={"Content-Type": "application/json"})
        assert sample.status_code == 201, sample.text[:500]
        api_bench._run_load(base, warm[1:], 4)
        for clients, payloads in loads:
            rows.append({"N": processes, "clients": clients, "load": load_average(),
                         **api_bench._run_load(base, payloads, clients)})
    finally:
        api_bench._stop(service)
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "body.json"
        body.write_bytes(sample.content)
        bport = api_bench._free_port()
        bare = api_bench._start([sys.executable, api_bench.__file__, *sizing, "--baseline-server", str(bport),
                                 str(body)], env)
        try:
            api_bench._wait(f"http://127.0.0.1:{bport}/healthz")
            api_bench._run_load(f"http://127.0.0.1:{bport}", warm[1:], 4)
            for row, (clients, payloads) in zip(rows, loads, strict=True):
                row["bare"] = api_bench._run_load(f"http://127.0.0.1:{bport}", payloads, clients)
        finally:
            api_bench._stop(bare)
    return rows


def bare_client(hapi: str, episodes: int, threads: int, seed: int) -> dict[str, Any]:
    """``threads`` bare clients POSTing fresh episodes' transaction Bundles to HAPI at once."""
    bundles = [episode_bundle(unique_episode(i, seed=seed)) for i in range(episodes)]
    shares = [bundles[i::threads] for i in range(threads)]
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda share: bare_post(hapi, share), shares))
    took = time.perf_counter() - start
    resources = sum(len(b["entry"]) for b in bundles)
    return {"resources": resources, "seconds": took, "rate": resources / took}


def _workers(database: str, hapi: str, count: int) -> float:
    """Wall seconds of ``count`` ``etmi-fhir worker --exit-when-idle`` processes started at once."""
    env = {**os.environ, "ETMI_LOG_LEVEL": "WARNING", "ETMI_SYNC_TARGETS": targets_json(hapi)}
    command = [CLI, "worker", "--exit-when-idle", "--pull-every", "0", "--database-url", database]
    start = time.perf_counter()
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(count)]
    for proc in procs:
        _, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"worker exited {proc.returncode}: {err.decode()[-800:]}")
    return time.perf_counter() - start


def push(database: str, hapi: str, workers: int, start_s: float) -> dict[str, Any]:
    """Drain the database's outbox with ``workers`` processes; resources/s of the net time."""
    engine = create_engine(database)
    with engine.connect() as conn:
        resources = conn.execute(text("SELECT count(*) FROM fhir_resource WHERE current")).scalar_one()
    took = _workers(database, hapi, workers)
    with engine.connect() as conn:
        statuses = dict(conn.execute(text("SELECT status, count(*) FROM outbox GROUP BY status")).all())
    engine.dispose()
    net = max(took - start_s, 1e-3)
    return {"M": workers, "resources": resources, "seconds": net, "wall_s": took, "rate": resources / net,
            "outbox": statuses, "load": load_average()}


def exactly_once(database: str, hapi: str) -> dict[str, Any]:
    """Every stored Patient once on HAPI, with the database's count of each resource type (Provenance aside)."""
    engine = create_engine(database)
    with engine.connect() as conn:
        patients = conn.execute(text("SELECT id, identifier_system, identifier_value FROM patient")).all()
        expected: dict[str, dict[str, int]] = {}
        for pid, rtype, count in conn.execute(text(
                "SELECT patient_id, resource_type, count(*) FROM fhir_resource WHERE current GROUP BY 1, 2")):
            expected.setdefault(pid, {})[rtype] = count
    engine.dispose()
    local = threading.local()

    def check(row: Any) -> tuple[int, int]:
        session = local.__dict__.setdefault("s", requests.Session())
        found = session.get(f"{hapi}/Patient", params={"identifier": f"{row[1]}|{row[2]}"}, headers=FHIR,
                            timeout=120).json().get("entry", [])
        if len(found) != 1:
            return (1, 0) if not found else (0, len(found) - 1)
        everything = session.get(f"{hapi}/Patient/{found[0]['resource']['id']}/$everything",
                                 params={"_count": "1000"}, headers=FHIR, timeout=120).json()
        remote: dict[str, int] = {}
        for entry in everything.get("entry", []):
            remote[entry["resource"]["resourceType"]] = remote.get(entry["resource"]["resourceType"], 0) + 1
        missing = sum(max(0, n - remote.get(t, 0)) for t, n in expected.get(row[0], {}).items())
        extra = sum(max(0, remote.get(t, 0) - n) for t, n in expected.get(row[0], {}).items())
        return missing, extra

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(check, patients))
    return {"patients": len(patients), "resources": sum(sum(v.values()) for v in expected.values()),
            "missing": sum(r[0] for r in results), "duplicates": sum(r[1] for r in results)}


def worker_start(server: str, hapi: str) -> float:
    """Wall time of one worker on an empty outbox: process start, imports, first connection."""
    with fresh_database(server) as empty:
        from service.store import open_store

        open_store(empty).close()
        return _workers(empty, hapi, 1)


def run(server: str, hapi: str, sizes: tuple[int, int], bare_episodes: int, counts: list[int]) -> dict[str, Any]:
    start_s = worker_start(server, hapi)
    result: dict[str, Any] = {"start_s": start_s, "ingest": [], "push": [], "check": [],
                              "bare1": bare_client(hapi, bare_episodes, 1, seed=31)}
    for n in counts:
        loads = [(clients, [orjson.dumps(unique_episode(i, seed=40 + n)) for i in range(size)])
                 for clients, size in zip((4, 50), sizes, strict=True)]
        with fresh_database(server) as database:
            result["ingest"] += ingest(database, hapi, n, loads)
            bare = bare_client(hapi, bare_episodes, n, seed=50 + n)
            result["push"].append({**push(database, hapi, n, start_s), "bare": bare})
            result["check"].append({"M": n, **exactly_once(database, hapi)})
        print(f"N = M = {n} done, load {load_average()}", file=sys.stderr, flush=True)
    return result


def report(result: dict[str, Any], command: str) -> bool:
    print(f"{command}\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"worker start on an empty outbox {result['start_s']:.1f} s (subtracted)\n")
    print(markdown(["N processes", "clients", "episodes", "episodes/s", "p50 ms", "p99 ms", "errors",
                    "bare Flask req/s", "bare p99 ms", "ratio", "load"],
                   [[r["N"], r["clients"], r["n"], r["rps"], r["p50"], r["p99"], len(r["errors"]), r["bare"]["rps"],
                     r["bare"]["p99"], f"1/{r['bare']['rps'] / r['rps']:.0f}", r["load"]] for r in result["ingest"]]))
    bare1 = result["bare1"]
    print(f"\nbare client, 1 thread: {bare1['resources']} resources in {bare1['seconds']:.1f} s = "
          f"{bare1['rate']:.1f} resources/s\n")
    print(markdown(["M workers", "resources", "seconds", "resources/s", "bare client, M threads, res/s",
                    "ratio to bare M", "ratio to bare 1", "outbox", "load"],
                   [[p["M"], p["resources"], p["seconds"], p["rate"], p["bare"]["rate"],
                     f"{p['rate'] / p['bare']['rate']:.2f}", f"{p['rate'] / bare1['rate']:.2f}",
                     " ".join(f"{k} {v}" for k, v in sorted(p["outbox"].items())), p["load"]]
                    for p in result["push"]]))
    print()
    print(markdown(["M workers", "patients", "resources", "missing on HAPI", "duplicates on HAPI"],
                   [[c["M"], c["patients"], c["resources"], c["missing"], c["duplicates"]] for c in result["check"]]))
    errors = sum(len(r["errors"]) for r in result["ingest"])
    unsent = sum(v for p in result["push"] for k, v in p["outbox"].items() if k != "sent")
    wrong = sum(c["missing"] + c["duplicates"] for c in result["check"])
    return not (errors or unsent or wrong)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("ETMI_TEST_DATABASE_URL", ""),
                        help="a PostgreSQL server (default $ETMI_TEST_DATABASE_URL): a fresh database per N")
    parser.add_argument("--hapi", default=os.environ.get("ETMI_TEST_HAPI_URL", ""),
                        help="HAPI FHIR base URL (default $ETMI_TEST_HAPI_URL)")
    parser.add_argument("--quick", action="store_true", help="20 + 60 episodes per N, 20 for the bare client")
    parser.add_argument("--processes", default="1,2,4", help="N = M values (default 1,2,4)")
    args = parser.parse_args()
    if not args.database_url.startswith(("postgresql://", "postgresql+psycopg://")) or not args.hapi:
        parser.error("needs a PostgreSQL server and HAPI: source /tmp/etmi-servers.env (tests/servers/*/start)")
    server = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    sizes, bare_episodes = ((20, 60), 20) if args.quick else ((100, 200), 60)
    counts = [int(x) for x in args.processes.split(",")]
    result = run(server, args.hapi.rstrip("/"), sizes, bare_episodes, counts)
    return 0 if report(result, "bench/scaleout.py " + " ".join(sys.argv[1:])) else 1


if __name__ == "__main__":
    sys.exit(main())
