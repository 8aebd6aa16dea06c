"""Mapping throughput: episodes/s and resources/s of payload -> Bundle, as a ratio to a baseline.

Baseline (same process, same run): ``orjson.loads`` + ``orjson.dumps`` of the very resources the
mapping produced, i.e. the cheapest possible handling of the same output. Measured as the suite's
mapping section measures (``bench/paths.py``): CPU time of this process (other jobs on the shared
machine count less than in wall time), best of ``--repeats``, the bench's own data frozen out of the
cyclic GC, each Bundle dropped at once as a request would. ``--profile N`` prints the N functions with
the most own time under cProfile (one pass over the episodes; bench/profiles/mapping.md). Run:

    .venv/bin/python bench/mapping_bench.py [--episodes 200] [--repeats 5] [--profile 30]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import time
from collections.abc import Callable
from typing import Any

import orjson

from mappings.bundle import episode_to_bundle
from mappings.payload import episode_from_json
from service.ig import load_package
from service.synthetic import synthetic_episode


def best_of(repeats: int, work: Callable[[], object]) -> float:
    gc.collect()
    gc.freeze()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    gc.unfreeze()
    return min(times)


def _profile(work: Callable[[], object], top: int) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(work)
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the top N functions instead")
    args = parser.parse_args()
    questionnaires = load_package().questionnaires()
    payloads = [synthetic_episode(i) for i in range(args.episodes)]
    bundles = [episode_to_bundle(episode_from_json(p), questionnaires) for p in payloads]
    resources: list[Any] = [e["resource"] for b in bundles for e in b["entry"]]
    encoded = [orjson.dumps(r) for r in resources]

    def work() -> None:
        for p in payloads:
            episode_to_bundle(episode_from_json(p), questionnaires)

    if args.profile:
        _profile(work, args.profile)
        return
    load = os.getloadavg()[0]
    mapping = best_of(args.repeats, work)
    def round_trip() -> None:
        for blob in encoded:  # each result dropped at once, like each Bundle
            orjson.dumps(orjson.loads(blob))

    baseline = best_of(args.repeats, round_trip)
    n_res = len(resources)
    print(f"episodes: {args.episodes}, resources: {n_res} ({n_res / args.episodes:.1f} per episode), "
          f"best of {args.repeats} (CPU time), load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
    print("| operation | episodes/s | resources/s | ratio to baseline |")
    print("|---|---:|---:|---:|")
    print(f"| map payload -> transaction Bundle | {args.episodes / mapping:,.0f} | {n_res / mapping:,.0f} "
          f"| {mapping / baseline:.1f}x slower |")
    print(f"| baseline: orjson.loads + orjson.dumps of the same resources | {args.episodes / baseline:,.0f} "
          f"| {n_res / baseline:,.0f} | 1.0x |")
    print(f"mean cost per episode: {mapping / args.episodes * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
