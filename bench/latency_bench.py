"""Accepted write -> readable on HAPI, with a worker running: p50 / p99 latency.

    .venv/bin/python bench/latency_bench.py --hapi http://127.0.0.1:8080/fhir [--episodes 50] [--idle-seconds 60]

``etmi-fhir serve`` (SQLite, auth off, one target configured by its base URL only) and ``etmi-fhir worker``
(default settings: 4 push threads, the target's default concurrency; woken by a committed outbox row, checked
every 0.1 s on SQLite, else 2 s at most; pull every 60 s) run as they would in production.
One client POSTs distinct episodes (fresh patients) one at a time, a random 0-1 s pause before each so the
POSTs land at every phase of the worker's polling. The clock starts when the service has answered 201
(accepted: stored, outbox row committed) and stops when HAPI answers the episode's Goal to
``GET Goal?identifier=...`` (polled every 50 ms). The baseline is the same search once the Goal is there
(what a reader pays anyway). Peak RSS of the service's largest gunicorn worker and of the worker at the end.
With ``--idle-seconds N``, first what waiting costs: a worker with ``--pull-every 0`` (else its pull of the EHR
would be counted) on the same empty outbox, its CPU time (user + system, ``/proc/<pid>/stat``) over N seconds after
a 10 s start, as a percentage of one core, and how long it takes to exit after SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import requests
from common import ROOT, peak_rss_tree

sys.path.insert(0, str(ROOT))

from tests.sync.support import episode_bundle, unique_episode

ETMI = str(Path(sys.executable).with_name("etmi-fhir"))


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _goal_query(payload: dict[str, Any]) -> str:
    goal = next(e["resource"] for e in episode_bundle(payload)["entry"] if e["resource"]["resourceType"] == "Goal")
    ident = goal["identifier"][0]
    return f"Goal?identifier={ident['system']}|{ident['value']}&_elements=id"


def _found(session: requests.Session, url: str) -> bool:
    response = session.get(url, headers={"Accept": "application/fhir+json"}, timeout=30)
    return response.status_code == 200 and bool(response.json().get("entry"))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _one(api: requests.Session, hapi: requests.Session, service: str, base: str, i: int) -> tuple[float, float]:
    payload = unique_episode(i, seed=17)
    url = f"{base}/{_goal_query(payload)}"
    response = api.post(f"{service}/api/v1/episodes", data=orjson.dumps(payload),
                        headers={"Content-Type": "application/json"}, timeout=60)
    accepted = time.perf_counter()
    if response.status_code != 201:
        raise RuntimeError(f"POST answered {response.status_code}: {response.text[:300]}")
    deadline = accepted + 300
    while not _found(hapi, url):
        if time.perf_counter() > deadline:
            raise RuntimeError("the Goal did not reach HAPI within 300 s")
        time.sleep(0.05)
    latency = time.perf_counter() - accepted
    start = time.perf_counter()
    _found(hapi, url)
    return latency, time.perf_counter() - start


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def idle_worker(env: dict[str, str], seconds: float) -> dict[str, float]:
    """CPU % of one core of an idle worker (no pull) over ``seconds``, and its exit time after SIGTERM."""
    worker = subprocess.Popen([ETMI, "worker", "--pull-every", "0"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(10)  # imports, profiles, the first (empty) claims
        before = _cpu_seconds(worker.pid)
        time.sleep(seconds)
        cpu = _cpu_seconds(worker.pid) - before
    finally:
        stopping = time.perf_counter()
        worker.terminate()
        code = worker.wait(60)
    return {"worker_idle_cpu_percent": round(100 * cpu / seconds, 3),
            "worker_sigterm_exit_s": round(time.perf_counter() - stopping, 2), "worker_exit_code": code}


def measure(hapi: str, episodes: int, idle_seconds: float = 0) -> dict[str, Any]:
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="etmi-bench-latency-") as tmp:
        env = {**os.environ, "ETMI_AUTH_MODE": "none", "ETMI_LOG_LEVEL": "WARNING",
               "ETMI_DATABASE_URL": f"sqlite:///{tmp}/etmi.db",
               "ETMI_SYNC_TARGETS": json.dumps({"targets": {"hapi": {"base_url": hapi}}})}
        idle = idle_worker(env, idle_seconds) if idle_seconds else {}
        port = _port()
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
        service = subprocess.Popen([ETMI, "serve", "--port", str(port)], env=env, **quiet)  # type: ignore[call-overload]
        worker = subprocess.Popen([ETMI, "worker"], env=env, **quiet)  # type: ignore[call-overload]
        try:
            base = f"http://127.0.0.1:{port}"
            from api_bench import _wait

            _wait(base + "/readyz")
            api, reader = requests.Session(), requests.Session()
            _one(api, reader, base, hapi, 0)  # warm-up (validator, pools, HAPI's caches)
            latencies, reads = [], []
            for i in range(1, episodes + 1):
                time.sleep(rng.uniform(0, 1))
                latency, read = _one(api, reader, base, hapi, i)
                latencies.append(latency)
                reads.append(read)
            rss = {"service_mib": peak_rss_tree(service.pid)["largest_child_mib"],
                   "worker_mib": peak_rss_tree(worker.pid)["root_mib"]}
        finally:
            for proc in (worker, service):
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(60)
    return {"episodes": episodes, "p50_s": statistics.median(latencies), "p99_s": _percentile(latencies, 0.99),
            "max_s": max(latencies), "read_p50_s": statistics.median(reads), "read_p99_s": _percentile(reads, 0.99),
            **rss, **idle}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hapi", default=os.environ.get("ETMI_TEST_HAPI_URL"), help="default: ETMI_TEST_HAPI_URL")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=0, help="measure the idle worker's CPU first (0: no)")
    args = parser.parse_args()
    if not args.hapi:
        parser.error("--hapi or ETMI_TEST_HAPI_URL is needed (bench/run starts a HAPI itself)")
    result = measure(args.hapi.rstrip("/"), args.episodes, args.idle_seconds)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
