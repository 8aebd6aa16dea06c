"""Scale-out benchmark: N service processes and M sync workers on one PostgreSQL database, HAPI as the EHR.

    ETMI_TEST_DATABASE_URL=postgresql+psycopg://... ETMI_TEST_HAPI_URL=http://.../fhir   # tests/servers/*/start
    .venv/bin/python bench/scaleout.py            # 60 episodes at 4 clients + 150 at 50, per N; --quick: 20 + 60

(a) Ingest: for N = 1, 2, 4 gunicorn processes (``etmi-fhir serve --workers N --threads 4``, a HAPI target
configured, so every write queues its outbox row) on a fresh database each, ``POST /api/v1/episodes`` of
distinct synthetic episodes from a second process at 4 and then at 50 clients, next to the bare Flask
endpoint of ``bench/api_bench.py`` under the same gunicorn settings. (b) Push: the backlog that run N
accepted is drained by M = N ``etmi-fhir worker`` processes at once (default target settings: its base URL
only), against a bare client posting other episodes' transaction Bundles to HAPI from M threads in the same
run (the EHR's limit at that parallelism). Then the exactly-once check: every Patient stored is on HAPI once,
with as many resources of each type as the database holds for it (searches of each type by patient, 40
patients at a time; no duplicate, none missing). Prints markdown tables for docs/scale-out.md (and each N's
figures as JSON on stderr as they come); exit 1 on any error or failed check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
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
from hapi_check import held_for
from pipeline import targets_json
from push_bench import baseline as bare_post
from sqlalchemy import create_engine, text

sys.path.insert(0, str(ROOT))

from tests.sync.support import episode_bundle, unique_episode

CLI = str(Path(sys.executable).with_name("etmi-fhir"))


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


def _wait(url: str, timeout: float = 180) -> None:
    """Until ``url`` answers below 500 (a loaded machine may take seconds to answer the first request)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=10).status_code < 500:
                return
        except requests.RequestException:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer")


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
        _wait(base + "/readyz")
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
            _wait(f"http://127.0.0.1:{bport}/healthz")
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


def _remote_counts(hapi: str, batch: list[Any], types: list[str]) -> tuple[dict[str, str], dict[tuple[str, str], int]]:
    """For up to 40 stored Patients: their HAPI ids (a duplicate Patient counts as one more), and per
    (local patient, type) how many resources HAPI holds for it."""
    remote_to_local: dict[str, str] = {}
    counts: dict[tuple[str, str], int] = {}
    for local, rtype, resource in held_for(requests.Session(), hapi, batch, types):
        if rtype == "Patient":
            remote_to_local[resource["id"]] = local
        counts[(local, rtype)] = counts.get((local, rtype), 0) + 1
    return remote_to_local, counts


def exactly_once(database: str, hapi: str) -> dict[str, Any]:
    """Every stored Patient once on HAPI, and for each the database's count of each resource type (found by
    searching each type for 40 patients at a time; Provenance aside): nothing missing, nothing twice."""
    engine = create_engine(database)
    with engine.connect() as conn:
        patients = list(conn.execute(text("SELECT id, identifier_system, identifier_value FROM patient")).all())
        expected = {(pid, rtype): count for pid, rtype, count in conn.execute(text(
            "SELECT patient_id, resource_type, count(*) FROM fhir_resource WHERE current GROUP BY 1, 2"))}
    engine.dispose()
    types = sorted({rtype for _, rtype in expected} - {"Patient"})
    batches = [patients[i:i + 40] for i in range(0, len(patients), 40)]
    found: dict[tuple[str, str], int] = {}
    with ThreadPoolExecutor(2) as pool:
        for _, counts in pool.map(lambda batch: _remote_counts(hapi, batch, types), batches):
            found.update(counts)
    return {"patients": len(patients), "resources": sum(expected.values()),
            "missing": sum(max(0, n - found.get(key, 0)) for key, n in expected.items()),
            "duplicates": sum(max(0, found.get(key, 0) - n) for key, n in expected.items())}


def worker_start(server: str, hapi: str) -> float:
    """Wall time of one worker on an empty outbox: process start, imports, first connection."""
    with fresh_database(server) as empty:
        from service.store import open_store

        open_store(empty).close()
        return _workers(empty, hapi, 1)


def run(server: str, hapi: str, sizes: tuple[int, int], bare_episodes: int, counts: list[int],
        ingest_only: bool = False) -> dict[str, Any]:
    start_s = 0.0 if ingest_only else worker_start(server, hapi)
    result: dict[str, Any] = {"start_s": start_s, "ingest": [], "push": [], "check": [],
                              "bare1": None if ingest_only else bare_client(hapi, bare_episodes, 1, seed=31)}
    for n in counts:
        loads = [(clients, [orjson.dumps(unique_episode(i, seed=40 + n)) for i in range(size)])
                 for clients, size in zip((4, 50), sizes, strict=True)]
        with fresh_database(server) as database:
            result["ingest"] += ingest(database, hapi, n, loads)
            if ingest_only:
                print(json.dumps({"N": n, "ingest": result["ingest"][-2:]}), file=sys.stderr, flush=True)
                continue
            bare = bare_client(hapi, bare_episodes, n, seed=50 + n)
            result["push"].append({**push(database, hapi, n, start_s), "bare": bare})
            result["check"].append({"M": n, **exactly_once(database, hapi)})
        print(json.dumps({"N": n, "ingest": result["ingest"][-2:], "push": result["push"][-1],
                          "check": result["check"][-1]}, default=str), file=sys.stderr, flush=True)
    return result


def report(result: dict[str, Any], command: str) -> bool:
    print(f"{command}\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"worker start on an empty outbox {result['start_s']:.1f} s (subtracted)\n")
    print(markdown(["N processes", "clients", "episodes", "episodes/s", "p50 ms", "p99 ms", "errors",
                    "bare Flask req/s", "bare p99 ms", "ratio", "load"],
                   [[r["N"], r["clients"], r["n"], r["rps"], r["p50"], r["p99"], len(r["errors"]), r["bare"]["rps"],
                     r["bare"]["p99"], f"1/{r['bare']['rps'] / r['rps']:.0f}", r["load"]] for r in result["ingest"]]))
    bare1 = result["bare1"]
    if bare1 is None:  # --ingest-only
        return not sum(len(r["errors"]) for r in result["ingest"])
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
    parser.add_argument("--quick", action="store_true",
                        help="20 + 60 episodes per N (default 60 + 150), 20 for the bare client (30)")
    parser.add_argument("--processes", default="1,2,4", help="N = M values (default 1,2,4)")
    parser.add_argument("--ingest-only", action="store_true", help="(a) only: no push, no exactly-once check")
    args = parser.parse_args()
    if not args.database_url.startswith(("postgresql://", "postgresql+psycopg://")) or not args.hapi:
        parser.error("needs PostgreSQL and HAPI: ETMI_TEST_DATABASE_URL and ETMI_TEST_HAPI_URL (tests/servers/*/start)")
    server = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    sizes, bare_episodes = ((20, 60), 20) if args.quick else ((60, 150), 30)
    counts = [int(x) for x in args.processes.split(",")]
    result = run(server, args.hapi.rstrip("/"), sizes, bare_episodes, counts, args.ingest_only)
    return 0 if report(result, "bench/scaleout.py " + " ".join(sys.argv[1:])) else 1


if __name__ == "__main__":
    sys.exit(main())
