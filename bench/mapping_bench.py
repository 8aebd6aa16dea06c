"""Mapping throughput: episodes/s and resources/s of payload -> Bundle, as a ratio to a baseline.

Baseline (same process, same run): ``orjson.loads`` + ``orjson.dumps`` of the very resources the
mapping produced, i.e. the cheapest possible handling of the same output. Run:

    .venv/bin/python bench/mapping_bench.py [--episodes 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import orjson

from mappings.bundle import episode_to_bundle
from mappings.payload import episode_from_json
from service.ig import load_package
from service.synthetic import synthetic_episode


def best_of(repeats: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    questionnaires = load_package().questionnaires()
    payloads = [synthetic_episode(i) for i in range(args.episodes)]
    bundles = [episode_to_bundle(episode_from_json(p), questionnaires) for p in payloads]
    resources = [e["resource"] for b in bundles for e in b["entry"]]
    encoded = [orjson.dumps(r) for r in resources]

    mapping = best_of(args.repeats, lambda: [episode_to_bundle(episode_from_json(p), questionnaires)
                                             for p in payloads])
    baseline = best_of(args.repeats, lambda: [orjson.dumps(orjson.loads(b)) for b in encoded])
    n_res = len(resources)
    print(f"episodes: {args.episodes}, resources: {n_res} ({n_res / args.episodes:.1f} per episode), "
          f"best of {args.repeats}")
    print("| operation | episodes/s | resources/s | ratio to baseline |")
    print("|---|---:|---:|---:|")
    print(f"| map payload -> transaction Bundle | {args.episodes / mapping:,.0f} | {n_res / mapping:,.0f} "
          f"| {mapping / baseline:.1f}x slower |")
    print(f"| baseline: orjson.loads + orjson.dumps of the same resources | {args.episodes / baseline:,.0f} "
          f"| {n_res / baseline:,.0f} | 1.0x |")
    print(f"mean cost per episode: {mapping / args.episodes * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
