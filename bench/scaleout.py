"""Scale-out benchmark: N service processes and M sync workers on one PostgreSQL database, HAPI as the EHR.

    ETMI_TEST_DATABASE_URL=postgresql+psycopg://... ETMI_TEST_HAPI_URL=http://.../fhir   # tests/servers/*/start
    .venv/bin/python bench/scaleout.py --push-only --workers 2   # (b) only: 100 episodes' backlog, 4 in flight
    .venv/bin/python bench/scaleout.py            # N = M = 1, 2, 4: ingest 60 at 4 clients + 150 at 50, then push

(a) Ingest: N gunicorn processes (``etmi-fhir serve --workers N --threads 4``, a HAPI target configured, so every
write queues its outbox row) on a fresh database, ``POST /api/v1/episodes`` of distinct episodes from a second
process at 4 and then 50 clients, next to the bare Flask endpoint of ``bench/api_bench.py`` under the same
settings. (b) Push: that backlog (with ``--push-only``: ``--episodes`` accepted by the same route in this process)
drained by M ``etmi-fhir worker`` processes at once, sharing ``--in-flight`` requests to HAPI (each worker's
target ``concurrency`` = in flight // M: M workers share the EHR's limit rather than overrun it), against a bare
client posting other episodes' transaction Bundles from as many threads just before and after. Then the check
(``hapi_check.exactly_once``): every stored Patient on HAPI once, each type's count the database's, each Goal
the stored one (``--goal-edits``). Logs and outbox rows go to ``--logs``. Markdown tables for docs/scale-out.md
(each M as JSON on stderr); exit 1 on any error, unsent row or failed check.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
from hapi_check import evidence, exactly_once
from push_bench import baseline as bare_post
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(ROOT))

from tests.sync.support import episode_bundle, unique_episode

CLI = str(Path(sys.executable).with_name("etmi-fhir"))


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new empty database on the PostgreSQL server of ``server`` (dropped afterwards)."""
    name = f"etmi_scale_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server.rpartition('/')[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def ingest(database: str, hapi: str, processes: int, loads: list[tuple[int, list[bytes]]]) -> list[dict[str, Any]]:
    """The service then the bare endpoint, each at every (clients, payloads) of ``loads``."""
    env = {**os.environ, "ETMI_AUTH_MODE": "none", "ETMI_LOG_LEVEL": "WARNING", "ETMI_DATABASE_URL": database,
           "ETMI_SYNC_TARGETS": targets(hapi, 4)}
    sizing = ["--workers", str(processes), "--threads", "4"]
    port = api_bench._free_port()
    rows: list[dict[str, Any]] = []
    service = api_bench._start([CLI, "serve", "--port", str(port), *sizing], env)
    try:
        base = f"http://127.0.0.1:{port}"
        api_bench._wait(base + "/readyz", timeout=180)
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
        (body := Path(tmp) / "body.json").write_bytes(sample.content)
        bport = api_bench._free_port()
        bare = api_bench._start([sys.executable, api_bench.__file__, *sizing, "--baseline-server", str(bport),
                                 str(body)], env)
        try:
            api_bench._wait(f"http://127.0.0.1:{bport}/healthz", timeout=180)
            api_bench._run_load(f"http://127.0.0.1:{bport}", warm[1:], 4)
            for row, (clients, payloads) in zip(rows, loads, strict=True):
                row["bare"] = api_bench._run_load(f"http://127.0.0.1:{bport}", payloads, clients)
        finally:
            api_bench._stop(bare)
    return rows


def targets(hapi: str, concurrency: int, batch_size: int = 10) -> str:
    """One target by its base URL, ``concurrency`` requests in flight per worker (1-16), ``batch_size`` per claim."""
    return json.dumps({"targets": {"hapi": {"base_url": hapi, "concurrency": concurrency, "batch_size": batch_size}}})


def bare_client(hapi: str, episodes: int, threads: int, seed: int) -> dict[str, Any]:
    """``threads`` bare clients POSTing fresh episodes' transaction Bundles to HAPI at once."""
    bundles = [episode_bundle(unique_episode(i, seed=seed)) for i in range(episodes)]
    shares = [bundles[i::threads] for i in range(threads)]
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda share: bare_post(hapi, share), shares))
    took, resources = time.perf_counter() - start, sum(len(b["entry"]) for b in bundles)
    return {"threads": threads, "resources": resources, "seconds": took, "rate": resources / took}


def backlog(database: str, hapi: str, episodes: int, edits: int) -> None:
    """``episodes`` accepted by the service's own ``POST /api/v1/episodes`` in this process (Flask test client:
    the route, validation, store transaction and outbox rows of gunicorn's, without the HTTP server); after
    each, ``edits`` changes of the previous episode's Goal, each one more outbox row of that patient: its rows
    must reach HAPI in order, whichever worker claims them."""
    from service.app import create_app
    from service.config import Settings

    app = create_app(Settings(database_url=database, auth_mode="none", log_level="WARNING",
                              sync_targets=targets(hapi, 1)))
    client, previous = app.test_client(), None
    for i in range(episodes):
        payload = unique_episode(i, seed=60)
        calls = [("POST", api_bench.PATH, payload)]
        if previous is not None:
            url, goal = f"{api_bench.PATH}/{previous['episode_id']}/goals/walk", dict(previous["goals"][0])
            for k in range(edits):  # target minutes, then status, in turn
                goal["target_minutes_per_week"] = 60 + (7 * i + k) % 90
                calls.append(("PUT", url, dict(goal)) if k % 2 == 0 else
                             ("PUT", url + "/status", {"lifecycle_status": ("on-hold", "active")[k // 2 % 2]}))
        for method, url, body in calls:
            answer = client.open(url, method=method, data=orjson.dumps(body), content_type="application/json")
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"backlog: {answer.status_code} {answer.get_data(as_text=True)[:500]}")
        previous = payload
    app.extensions["etmi"].store.close()


def _workers(database: str, spec: str, count: int, logs: Path, timeout: float) -> dict[str, Any]:
    """``count`` ``etmi-fhir worker --exit-when-idle`` (logs in ``logs``), held at their first claim by a lock on
    the outbox until all have started (the drain is timed without M start-ups on 2 cores): release time, CPU."""
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ETMI_LOG_LEVEL": "INFO", "ETMI_SYNC_TARGETS": spec}
    command = [CLI, "worker", "--exit-when-idle", "--pull-every", "0", "--database-url", database]
    cpu, procs = resource.getrusage(resource.RUSAGE_CHILDREN), []
    gate = create_engine(database, poolclass=NullPool).connect()
    gate.execute(text("LOCK TABLE outbox IN EXCLUSIVE MODE"))  # reads pass; FOR UPDATE (the claim) waits
    for i in range(count):
        with (logs / f"worker-{i}.log").open("wb") as log:
            procs.append(subprocess.Popen([*command, "--worker-id", f"w{i}"], cwd=ROOT, env=env, stdout=log,
                                          stderr=subprocess.STDOUT))
    try:  # every worker's imports done (its start logged), then 1 s for its threads to reach their first claim
        while sum('"sync.worker.started"' in log.read_text() for log in logs.glob("worker-*.log")) < count:
            if any(proc.poll() is not None for proc in procs):
                break  # one died at its start: reported below
            time.sleep(0.2)
        time.sleep(1)
    finally:
        gate.commit()
        gate.close()
    released, start, loads, timed_out = time.time(), time.monotonic(), [load_average()], False
    while any(proc.poll() is None for proc in procs):
        time.sleep(0.5)
        loads.append(load_average())  # the 1-minute average: many samples of it cost nothing
        if not timed_out and time.monotonic() - start > timeout:
            timed_out = True
            for proc in procs:
                proc.terminate()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    failed = [i for i, proc in enumerate(procs) if proc.returncode != 0]
    if failed and not timed_out:
        tail = (logs / f"worker-{failed[0]}.log").read_bytes()[-800:].decode(errors="replace")
        raise RuntimeError(f"worker {failed[0]} exited {procs[failed[0]].returncode}: {tail}")
    return {"released": released, "timed_out": timed_out, "load": f"{min(loads):.1f}-{max(loads):.1f}",
            "cpu_s": used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime}


def push(database: str, spec: str, workers: int, logs: Path, timeout: float) -> dict[str, Any]:
    """Drain the outbox with ``workers`` processes; resources/s from its release to the last row finished."""
    engine = create_engine(database)
    with engine.connect() as conn:
        resources = conn.execute(text("SELECT count(*) FROM fhir_resource WHERE current")).scalar_one()
    ran = _workers(database, spec, workers, logs, timeout)
    with engine.connect() as conn:
        counts = {status: n for status, n in conn.execute(text("SELECT status, count(*) FROM outbox GROUP BY 1"))}
    engine.dispose()
    drain = evidence(database, logs) - ran["released"]
    return {"M": workers, "resources": resources, "seconds": drain, "rate": resources / drain, "outbox": counts, **ran}


def run(args: argparse.Namespace, server: str, hapi: str, logs: Path) -> dict[str, Any]:
    """Per M: a fresh database, its backlog (service ingest at N = M, or in process with --push-only), the
    bare client at the same total in flight, the M workers, the exactly-once check."""
    if not args.ingest_only:
        bare_client(hapi, 10, 2, seed=30)  # warms HAPI up: its first requests after a start are slow
    result: dict[str, Any] = {"ingest": [], "push": []}
    for run_no, m in enumerate(int(x) for x in args.workers.split(",")):  # an M may come again (repeats)
        here = logs / f"{run_no + 1}-M{m}"
        per_worker = args.per_worker_concurrency or max(1, args.in_flight // m)
        with fresh_database(server) as database:
            if args.push_only:
                backlog(database, hapi, args.episodes, args.goal_edits)
            else:
                loads = [(clients, [orjson.dumps(unique_episode(i, seed=40 + m)) for i in range(size)])
                         for clients, size in zip((4, 50), args.sizes, strict=True)]
                result["ingest"] += ingest(database, hapi, m, loads)
            if not args.ingest_only:
                before = bare_client(hapi, args.bare_episodes, m * per_worker, seed=50 + m)
                row = push(database, targets(hapi, per_worker, args.batch_size), m, here, args.timeout)
                after = bare_client(hapi, args.bare_episodes, m * per_worker, seed=70 + m)
                row["check"] = exactly_once(database, hapi)
                result["push"].append({**row, "per_worker": per_worker, "bare": [before, after]})
        print(json.dumps({"M": m, "ingest": result["ingest"][-2:], "push": result["push"][-1:]}, default=str),
              file=sys.stderr, flush=True)
    return result


def _push_row(p: dict[str, Any]) -> list[Any]:
    bare = sum(b["resources"] for b in p["bare"]) / sum(b["seconds"] for b in p["bare"])
    check, outbox = p["check"], " ".join(f"{k} {v}" for k, v in sorted(p["outbox"].items()))
    once = (f"{check['patients']} patients, {check['missing']} missing, {check['duplicates']} twice, "
            f"{check['stale_goals']} stale Goals") + "".join(
        f"; {k} {check[k]}" for k in ("missing_at", "duplicates_at", "stale_goals_at") if check[k])
    return [p["M"], f"{p['M'] * p['per_worker']} ({p['M']} x {p['per_worker']})", p["resources"], p["seconds"],
            p["rate"], f"{bare:.1f} (" + " / ".join(f"{b['rate']:.1f}" for b in p["bare"]) + ")",
            f"{p['rate'] / bare:.2f}", outbox + (" (timed out)" if p["timed_out"] else ""), once, p["cpu_s"], p["load"]]


def report(result: dict[str, Any], command: str) -> bool:
    print(f"{command}\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          "s: the outbox released to the M workers (all started) to its last row finished\n")
    if result["ingest"]:
        print(markdown(["N processes", "clients", "episodes", "episodes/s", "p50 ms", "p99 ms", "errors",
                        "bare Flask req/s", "bare p99 ms", "ratio", "load"],
                       [[r["N"], r["clients"], r["n"], r["rps"], r["p50"], r["p99"], len(r["errors"]),
                         r["bare"]["rps"], r["bare"]["p99"], f"1/{r['bare']['rps'] / r['rps']:.0f}", r["load"]]
                        for r in result["ingest"]]) + "\n")
    if result["push"]:
        print(markdown(["M workers", "in flight (M x each)", "resources", "s", "res/s",
                        "bare res/s, same in flight (before / after)", "ratio", "outbox at the end", "exactly once",
                        "workers' CPU s", "load"], [_push_row(p) for p in result["push"]]))
    errors = sum(len(r["errors"]) for r in result["ingest"])
    unsent = sum(v for p in result["push"] for k, v in p["outbox"].items() if k != "sent")
    wrong = sum(p["check"]["missing"] + p["check"]["duplicates"] + p["check"]["stale_goals"] for p in result["push"])
    return not (errors or unsent or wrong)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("ETMI_TEST_DATABASE_URL", ""),
                        help="a PostgreSQL server (default $ETMI_TEST_DATABASE_URL): a fresh database per M")
    parser.add_argument("--hapi", default=os.environ.get("ETMI_TEST_HAPI_URL", ""), help="($ETMI_TEST_HAPI_URL)")
    parser.add_argument("--quick", action="store_true",
                        help="ingest 20 + 60 episodes per N (default 60 + 150), 20 for the bare client (40)")
    parser.add_argument("--workers", "--processes", default="1,2,4", help="M (= N unless --push-only), default 1,2,4")
    parser.add_argument("--ingest-only", action="store_true", help="(a) only: no push, no exactly-once check")
    parser.add_argument("--push-only", action="store_true", help="(b) only: --episodes accepted here, no gunicorn")
    parser.add_argument("--episodes", type=int, help="--push-only backlog per M (default 100, --quick 30)")
    parser.add_argument("--goal-edits", type=int, default=0,
                        help="--push-only: changes of the previous episode's Goal after each episode (default 0)")
    parser.add_argument("--in-flight", type=int, default=4,
                        help="total requests in flight to HAPI, shared by the M workers (default 4: 4 // M each)")
    parser.add_argument("--per-worker-concurrency", type=int, default=0,
                        help="the target's concurrency in each worker (1-16; default --in-flight // M)")
    parser.add_argument("--batch-size", type=int, default=10, help="rows a worker thread claims at once (default 10)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before the workers are stopped")
    parser.add_argument("--logs", default="", help="folder for the workers' logs (default: a new one in /tmp)")
    args = parser.parse_args()
    if not args.database_url.startswith(("postgresql://", "postgresql+psycopg://")) or not args.hapi:
        parser.error("needs PostgreSQL and HAPI: ETMI_TEST_DATABASE_URL and ETMI_TEST_HAPI_URL (tests/servers/*/start)")
    server = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    args.sizes, args.bare_episodes = ((20, 60), 20) if args.quick else ((60, 150), 40)
    args.episodes = args.episodes or (30 if args.quick else 100)
    logs = Path(args.logs or tempfile.mkdtemp(prefix="etmi-scaleout-"))
    print(f"worker logs: {logs}", file=sys.stderr, flush=True)
    result = run(args, server, args.hapi.rstrip("/"), logs)
    return 0 if report(result, "bench/scaleout.py " + " ".join(sys.argv[1:])) else 1


if __name__ == "__main__":
    sys.exit(main())
