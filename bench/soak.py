"""Bounded soak run: steady API load, periodic EHR faults and worker kills, then every record on HAPI once.

    .venv/bin/python bench/soak.py --quick --hapi URL   # 3 minutes; default --minutes 30; or ETMI_TEST_HAPI_URL

What it starts, the faults, the checks and the figures of a run: docs/soak.md. Exit 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import requests
from api_bench import _free_port
from common import ROOT, load_average, peak_rss_tree
from soak_check import check, counts, summary

sys.path.insert(0, str(ROOT))

from tests.servers.faultproxy.proxy import Fault, FaultProxy
from tests.sync.support import unique_episode

CLI = str(Path(sys.executable).with_name("etmi-fhir"))
RESULTS = ROOT / "bench" / "results"
JSON = {"Content-Type": "application/json"}
FAULTS = ("503-burst", "dropped-connections", "lost-answers", "slow-answers")


def generate(base: str, rate: float, stop: Path, out: Path, seed: int) -> None:
    """The load process: one request every 1/rate s until ``stop`` exists; one JSON line per request."""
    rng, session = random.Random(seed), requests.Session()
    accepted: list[tuple[str, dict[str, Any]]] = []
    due, i = time.monotonic(), 0
    with out.open("a") as log:
        while not stop.exists():
            due += 1 / rate
            time.sleep(max(0.0, due - time.monotonic()))
            i += 1
            kind, url, method, body = "episode", f"{base}/api/v1/episodes", "POST", None
            if accepted and i % 4 == 0:
                episode, goal = rng.choice(accepted)
                url = f"{base}/api/v1/episodes/{episode}/goals/walk"
                if rng.random() < 0.5:
                    goal["target_minutes_per_week"] = rng.randint(60, 150)
                    kind, method, body = "goal-replace", "PUT", dict(goal)
                else:
                    goal["lifecycle_status"] = rng.choice(["active", "on-hold", "completed"])
                    kind, method, url = "goal-status", "PUT", url + "/status"
                    body = {"lifecycle_status": goal["lifecycle_status"]}
            else:
                payload = unique_episode(i, seed=seed)
                episode, goal = payload["episode_id"], dict(payload["goals"][0])
                body = payload
            start = time.perf_counter()
            try:
                status = session.request(method, url, data=orjson.dumps(body), headers=JSON, timeout=120).status_code
            except requests.RequestException:
                status = 0
            line = {"kind": kind, "status": status, "ms": (time.perf_counter() - start) * 1000, "episode": episode}
            if status in (200, 201):
                if kind == "episode":
                    accepted.append((episode, goal))
                    line["patient"] = body["patient"]["value"]
                line["goal"] = {k: goal.get(k) for k in ("target_minutes_per_week", "lifecycle_status")}
            log.write(json.dumps(line) + "\n")
            log.flush()


class Workers:
    """``count`` worker processes; ``kill`` SIGKILLs one and starts its successor at once."""

    def __init__(self, count: int, database: str, env: dict[str, str], logs: Path) -> None:
        self.database, self.env, self.logs, self.kills, self.peak_mib = database, env, logs, 0, 0.0
        self.procs = [self._start(k) for k in range(count)]

    def _start(self, slot: int) -> subprocess.Popen[bytes]:
        name = f"soak-{slot}-{self.kills}"
        with (self.logs / f"{name}.log").open("wb") as log:
            return subprocess.Popen([CLI, "worker", "--database-url", self.database, "--pull-every", "0",
                                     "--worker-id", name], env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def sample(self) -> None:
        for proc in self.procs:
            self.peak_mib = max(self.peak_mib, peak_rss_tree(proc.pid)["root_mib"])

    def kill(self, slot: int) -> None:
        self.sample()
        self.procs[slot].send_signal(signal.SIGKILL)
        self.procs[slot].wait(30)
        self.kills += 1
        self.procs[slot] = self._start(slot)

    def kill_all(self) -> None:
        for proc in self.procs:
            proc.kill()

    def stop(self) -> list[int]:
        self.sample()
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        return [proc.wait(120) for proc in self.procs]


def _ready(url: str, timeout: float) -> None:
    """Wait for ``url`` to answer 200 (read timeouts included: the 2-core machine is shared)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


def inject(proxy: FaultProxy, kind: str) -> None:
    """Start the fault ``kind``; a persistent one lasts ``OUTAGE_S`` (cleared by the caller)."""
    if kind == "503-burst":
        proxy.persist(Fault("status", status=503, retry_after="5"))
    elif kind == "dropped-connections":
        proxy.persist(Fault("drop"))
    elif kind == "lost-answers":
        proxy.inject(*[Fault("lose", method="POST") for _ in range(3)])
    else:  # one answer later than the worker's 30 s read timeout, three late but in time
        proxy.inject(Fault("delay", seconds=35, method="POST"), *[Fault("delay", seconds=3) for _ in range(3)])


OUTAGE_S = 20.0


def soak(args: argparse.Namespace, tmp: Path, stack: ExitStack) -> dict[str, Any]:
    seconds = args.minutes * 60
    database = args.database_url or f"sqlite:///{tmp}/etmi.db"
    proxy = FaultProxy(args.hapi).start()
    stack.callback(proxy.stop)
    env = {**os.environ, "ETMI_AUTH_MODE": "none", "ETMI_LOG_LEVEL": "WARNING", "ETMI_DATABASE_URL": database,
           "ETMI_SYNC_TARGETS": json.dumps({"targets": {"hapi": {"base_url": proxy.url}}})}
    port = _free_port()
    with (tmp / "serve.log").open("wb") as log:
        service = subprocess.Popen([CLI, "serve", "--port", str(port)], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    stack.callback(service.wait, 60)
    stack.callback(os.killpg, service.pid, signal.SIGTERM)
    base = f"http://127.0.0.1:{port}"
    _ready(base + "/readyz", timeout=300)
    workers = Workers(args.workers, database, env, tmp)
    stack.callback(workers.kill_all)
    stop, load_log = tmp / "stop", tmp / "load.jsonl"
    load = subprocess.Popen([sys.executable, __file__, "--load", base, "--rate", str(args.rate),
                             "--stop-file", str(stop), "--out", str(load_log)], cwd=ROOT / "bench")
    stack.callback(load.kill)
    fault_every, kill_every = seconds / args.faults, seconds / args.kills
    started = time.monotonic()
    next_fault, next_kill, clear_at, service_mib = fault_every / 2, kill_every * 0.7, 0.0, 0.0
    injected: list[dict[str, Any]] = []
    while (now := time.monotonic() - started) < seconds:
        if now >= next_fault:
            kind = FAULTS[len(injected) % len(FAULTS)]
            inject(proxy, kind)
            injected.append({"kind": kind, "at_s": round(now, 1)})
            clear_at, next_fault = now + OUTAGE_S, next_fault + fault_every
        if clear_at and now >= clear_at:
            proxy.clear_persistent()
            clear_at = 0.0
        if now >= next_kill:
            workers.kill(workers.kills % args.workers)
            next_kill += kill_every
        workers.sample()
        service_mib = max(service_mib, peak_rss_tree(service.pid)["largest_child_mib"])
        if int(now) % 60 == 0:
            print(f"soak: {now:.0f} s, outbox {counts(database)}, load {load_average()}", file=sys.stderr, flush=True)
        if load.poll() is not None:
            raise RuntimeError(f"the load process exited {load.returncode}")
        time.sleep(1)
    stop.touch()
    load.wait(180)
    proxy.clear_persistent()
    drain_start = time.monotonic()
    while set(counts(database)) & {"pending", "failed", "in-flight"}:
        if time.monotonic() - drain_start > args.drain_timeout:
            break
        workers.sample()
        time.sleep(1)
    drain_s = time.monotonic() - drain_start
    service_mib = max(service_mib, peak_rss_tree(service.pid)["largest_child_mib"])
    exits = workers.stop()
    faulted: dict[str, int] = {}
    for seen in proxy.seen:
        if seen.fault != "pass":
            faulted[seen.fault] = faulted.get(seen.fault, 0) + 1
    requests_log = [json.loads(line) for line in load_log.read_text().splitlines()]
    return {"minutes": args.minutes, "rate": args.rate, "workers": args.workers, "database": database.split(":")[0],
            "faults": injected, "faulted_requests": faulted, "proxied_requests": len(proxy.seen),
            "worker_kills": workers.kills, "worker_exits": exits, "drain_s": round(drain_s, 1),
            "service_peak_rss_mib": service_mib, "worker_peak_rss_mib": workers.peak_mib,
            "load_average_end": load_average(), **summary(requests_log),
            "check": check(database, args.hapi, requests_log)}


def table(r: dict[str, Any], command: str) -> str:
    c = r["check"]
    rows = [("command", f"`{command}`"), ("ran", f"{r['started']} to {r['ended']} UTC, {os.cpu_count()} cores"),
            ("database", r["database"]), ("workers", r["workers"]),
            ("episodes accepted", r["episodes_accepted"]), ("Goal edits accepted", r["goal_edits_accepted"]),
            ("API requests / errors by status", f"{r['requests']} / {r['api_errors'] or 'none'}"),
            ("API latency p50 / p99 ms", f"{r['p50_ms']} / {r['p99_ms']}"),
            ("resources on HAPI (stored, the run's patients)", c["resources"]),
            ("Provenance on HAPI / sent outbox entries / resources named by none",
             f"{c['provenance']} / {c['sent_entries']} / {c['provenance_uncovered']}"),
            ("faults injected", f"{len(r['faults'])}: " + ", ".join(
                f"{k} {sum(1 for f in r['faults'] if f['kind'] == k)}" for k in FAULTS)),
            ("requests faulted by the proxy / proxied", f"{r['faulted_requests']} / {r['proxied_requests']}"),
            ("worker kills (SIGKILL, restarted at once)", r["worker_kills"]),
            ("drain time after the load stopped, s", r["drain_s"]),
            ("peak RSS service (largest gunicorn worker) / worker, MiB",
             f"{r['service_peak_rss_mib']} / {r['worker_peak_rss_mib']}"),
            ("outbox at the end", c["outbox"]), ("accepted episodes not stored", c["lost"]),
            ("missing on HAPI", c["missing"]), ("duplicates on HAPI (must be 0)", c["duplicates"]),
            ("Goals not as last accepted", c["stale_goals"]), ("result", "PASS" if r["passed"] else "FAIL")]
    return "| figure | value |\n|---|---:|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="3 minutes")
    parser.add_argument("--rate", type=float, default=0.25, help="API requests per second (default 0.25)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--faults", type=int, default=12, help="EHR faults over the run (default 12)")
    parser.add_argument("--kills", type=int, default=8, help="worker kills over the run (default 8)")
    parser.add_argument("--drain-timeout", type=float, default=1800.0)
    parser.add_argument("--database-url", default="", help="a PostgreSQL server: a fresh database on it")
    parser.add_argument("--hapi", default=os.environ.get("ETMI_TEST_HAPI_URL", ""))
    parser.add_argument("--out", default=str(RESULTS / "soak"), help="writes OUT.json and OUT.md")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--stop-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        generate(args.load, args.rate, Path(args.stop_file), Path(args.out), seed=int(time.time()))
        return 0
    if not args.hapi:
        parser.error("--hapi or ETMI_TEST_HAPI_URL is needed (a HAPI: tests/servers/hapi/start)")
    if args.quick:
        args.minutes, args.faults, args.kills = 3.0, 4, 2
    args.hapi = args.hapi.rstrip("/")
    command = "bench/soak.py " + " ".join(sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    tmp = tempfile.mkdtemp(prefix="etmi-soak-")  # kept: the database, the load's log and the processes' logs
    print(f"soak: {args.minutes} min, files in {tmp}", file=sys.stderr, flush=True)
    with ExitStack() as stack:
        if args.database_url:
            from scaleout import fresh_database

            args.database_url = stack.enter_context(fresh_database(
                args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)))
        result = soak(args, Path(tmp), stack)
    c = result["check"]
    result.update(command=command, started=started, ended=time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                  passed=not (c["lost"] or c["missing"] or c["duplicates"] or c["stale_goals"] or c["dead"]
                              or c["unsettled"]
                              or any(s == "0" or s.startswith("5") for s in result["api_errors"])))
    Path(args.out + ".json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    Path(args.out + ".md").write_text(table(result, command))
    print(table(result, command))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
