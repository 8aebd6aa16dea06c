"""Ingest and push at one size each, with their same-run baselines and the peak RSS of the processes.

- ``ingest(size)``: ``POST /api/v1/episodes`` of about ``size`` resources (distinct episodes, fresh patients)
  under ``etmi-fhir serve`` (SQLite, a HAPI target configured, so each write also queues its outbox row)
  against the bare Flask endpoint under the same gunicorn settings (``bench/api_bench.py``). Peak RSS of
  the largest gunicorn worker of each.
- ``push(size, hapi)``: the real ``etmi-fhir worker --exit-when-idle`` (one process, default target
  settings: only ``base_url``) draining a SQLite outbox of about ``size`` resources (one transaction row
  per episode, as the API queues them) to HAPI, against a bare ``requests`` client POSTing the same kind
  of Bundles (other fresh patients) first. The worker's peak RSS is its ``VmHWM`` (see ``_worker``). ``seconds`` is the
  worker's wall time less that of the same command on an empty outbox (process start, imports, the first
  connection), which is reported as ``start_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import api_bench
import orjson
from common import ROOT, episodes_for, peak_rss_tree

sys.path.insert(0, str(ROOT))

from tests.sync.support import enqueue_bundle, episode_bundle, new_store, unique_episode

Point = dict[str, Any]
SERVE = argparse.Namespace(workers=2, threads=4, concurrency=4)  # api_bench's defaults (the runs)


def targets_json(hapi: str) -> str:
    """One target, configured by its base URL only (every other setting is the service's default)."""
    return json.dumps({"targets": {"hapi": {"base_url": hapi}}})


def ingest(size: int, hapi: str) -> Point:
    n = episodes_for(size)
    payloads = [orjson.dumps(unique_episode(i, seed=7)) for i in range(n + api_bench.WARM)]
    with tempfile.TemporaryDirectory(prefix="etmi-bench-ingest-") as tmp:
        database = f"sqlite:///{tmp}/bench.db"
        args = argparse.Namespace(**vars(SERVE), requests=n)
        ours, bare, per_episode = api_bench._measure(args, payloads, database, Path(tmp),
                                                     {"ETMI_SYNC_TARGETS": targets_json(hapi)})
    return {
        "size": n * per_episode, "episodes": n, "seconds": n / ours["rps"], "baseline_s": n / bare["rps"],
        "rps": ours["rps"], "p50_ms": ours["p50"], "p99_ms": ours["p99"], "errors": len(ours["errors"]),
        "baseline_rps": bare["rps"], "baseline_p50_ms": bare["p50"], "baseline_p99_ms": bare["p99"],
        "rss_mib": ours["rss"]["largest_child_mib"], "baseline_rss_mib": bare["rss"]["largest_child_mib"],
    }


def _bare_client(hapi: str, bundles: list[dict[str, Any]]) -> float:
    from push_bench import baseline

    return baseline(hapi, bundles)


def _worker(database: str, targets: str) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MiB) of one ``etmi-fhir worker --exit-when-idle`` (push only).

    The peak is the worker's own ``VmHWM``, read every 0.1 s while it runs (it only grows, so the last
    read is the peak up to 0.1 s before the exit). Not ``wait4``'s ``ru_maxrss``: that also counts the
    image of this (large) bench process that the child had between ``fork`` and ``exec``."""
    env = {**os.environ, "ETMI_LOG_LEVEL": "WARNING", "ETMI_SYNC_TARGETS": targets}
    started = time.perf_counter()
    process = subprocess.Popen([str(Path(sys.executable).with_name("etmi-fhir")), "worker", "--exit-when-idle",
                                "--pull-every", "0", "--database-url", database], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, peak_rss_tree(process.pid)["root_mib"])
        time.sleep(0.1)
    took = time.perf_counter() - started
    err = process.stderr.read()[-1500:] if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"worker failed: {err}")
    return took, peak, err


def push(size: int, hapi: str) -> Point:
    n = episodes_for(size)
    base_bundles = [episode_bundle(unique_episode(i, seed=11)) for i in range(n)]
    resources = sum(len(b["entry"]) for b in base_bundles)
    baseline_s = _bare_client(hapi, base_bundles)
    del base_bundles
    with tempfile.TemporaryDirectory(prefix="etmi-bench-push-") as tmp:
        store = new_store(Path(tmp))
        for i in range(n):
            payload = unique_episode(i, seed=13)
            enqueue_bundle(store, episode_bundle(payload), payload["patient"]["value"],
                           local_id=payload["episode_id"], targets=("hapi",))
        store.close()
        database = f"sqlite:///{Path(tmp) / 'etmi.db'}"
        took, rss, err = _worker(database, targets_json(hapi))
        with tempfile.TemporaryDirectory(prefix="etmi-bench-push-") as empty:
            new_store(Path(empty)).close()
            start_s, idle_rss, _ = _worker(f"sqlite:///{Path(empty) / 'etmi.db'}", targets_json(hapi))
        store = new_store(Path(tmp))
        counts = store.outbox.counts()
        store.close()
    if counts != {"sent": n}:
        raise RuntimeError(f"push: not everything was sent: {counts} {err}")
    net = max(took - start_s, 1e-3)
    return {"size": resources, "episodes": n, "seconds": net, "wall_s": took, "start_s": start_s,
            "baseline_s": baseline_s, "rss_mib": rss, "idle_rss_mib": idle_rss,
            "rate": resources / net, "baseline_rate": resources / baseline_s}
