"""Validation throughput of service.validation, as a ratio to orjson.loads + orjson.dumps.

Usage: .venv/bin/python bench/validation_bench.py [--quick]

Resources: the HAPI-style fixtures of tests/validation (Observation with its ETMI profile, a
QuestionnaireResponse with 20 answered items, a CarePlan with its profile). Two workloads:
- "same": the same resource validated again and again (caches fully warm; best case);
- "distinct": 2,000 variants with their own id, versionId, lastUpdated, times, values, identifiers
  and narrative, validated in turn (the realistic case for a sync run).
Each figure is the median of 7 repeats whose inner loop is sized to about 0.2 s of CPU time
(time.process_time), single thread; ratios are medians of back-to-back pairs.

``--startup N`` instead measures start-up in N fresh processes (median): ``load_core()`` (reading the
definitions index), ``Engine()`` (index again, UCUM, terminology, primitives) and the first validation.

``--memory N`` instead validates N distinct mapped resources (the synthetic episodes of bench/run, each
validated once: the cold case) and prints the CPU time per resource and what the validator still holds
afterwards (tracemalloc, after a collection), at each tenth of the way; the caches' sizes at the end.
``--cold N`` does the same without tracemalloc (CPU time only; the workload profiled in
bench/profiles/validation.md); ``--fold RAW`` prints a py-spy raw profile of it as shares per function.
``--episodes N``, ``--episode-work N [--map-only]``: mapped episodes as the API validates them (validation_episodes.py).
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # bench/: common, paths, validation_episodes

from service.validation import Engine, has_errors
from tests.validation import fixtures
from tests.validation.conftest import ensure_definitions

JSON = dict[str, Any]


def _size(fn: Callable[[int], None]) -> int:
    """An inner-loop count that takes about 0.2 s of CPU."""
    n = 1
    while True:
        start = time.process_time()
        fn(n)
        took = time.process_time() - start
        if took > 0.05:
            return max(1, int(n * 0.2 / took))
        n *= 2


def paired(fn: Callable[[int], None], base: Callable[[int], None], repeats: int) -> tuple[float, float, float]:
    """(ops/s of fn, ops/s of base, median of the per-repeat ratios base/fn).

    CPU time of this process (time.process_time), and each repeat times fn and base back to back,
    so other load on the machine affects both sides of a ratio alike.
    """
    n_fn, n_base = _size(fn), _size(base)
    rates_fn, rates_base, ratios = [], [], []
    for _ in range(repeats):
        start = time.process_time()
        fn(n_fn)
        r_fn = n_fn / (time.process_time() - start)
        start = time.process_time()
        base(n_base)
        r_base = n_base / (time.process_time() - start)
        rates_fn.append(r_fn)
        rates_base.append(r_base)
        ratios.append(r_base / r_fn)
    return statistics.median(rates_fn), statistics.median(rates_base), statistics.median(ratios)


def _stamp(i: int) -> str:
    return f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.{i % 1000:03d}+00:00"


def variants(name: str, count: int) -> list[JSON]:
    rng = random.Random(42)
    base = fixtures.fresh(name)
    out = []
    for i in range(count):
        r = copy.deepcopy(base)
        r["id"] = f"{1000 + i}"
        r["meta"].update({"versionId": str(1 + i % 9), "lastUpdated": _stamp(i)})
        r["text"]["div"] = f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{name} {i}</p></div>'
        if name == "Observation":
            r["identifier"][0]["value"] = f"EP-{i}/obs/pain.nrs/INTAKE-1"
            r["effectiveDateTime"] = _stamp(i + 5)
            r["issued"] = _stamp(i + 9)
            r["valueQuantity"]["value"] = rng.randint(0, 10)
            r["subject"]["reference"] = f"Patient/{i}"
        elif name == "QuestionnaireResponse":
            r["identifier"]["value"] = f"EP-{i}/qr/INTAKE-1"
            r["authored"] = _stamp(i)
            r["item"][0]["answer"][0]["valueInteger"] = rng.randint(0, 10)
            r["item"][3]["answer"][0]["valueInteger"] = rng.randint(0, 7)
            r["item"][5]["answer"][0]["valueDecimal"] = round(rng.uniform(0, 100), 1)
            for item in r["item"][8]["item"]:
                item["answer"][0]["valueInteger"] = rng.randint(0, 6)
            r["subject"]["reference"] = f"Patient/{i}"
        else:
            r["identifier"][0]["value"] = f"EP-{i}/careplan"
            r["period"] = {"start": f"2024-{1 + i % 6:02d}-01", "end": f"2024-{7 + i % 6:02d}-01"}
            r["subject"]["reference"] = f"Patient/{i}"
        out.append(r)
    return out


def measure(engine: Engine, name: str, repeats: int) -> dict[str, float]:
    same = fixtures.fresh(name)
    many = variants(name, 2000)
    assert not has_errors(engine.validate(same)), engine.validate(same)
    assert not any(has_errors(engine.validate(r)) for r in many[:50])
    blobs = [orjson.dumps(r) for r in many]
    blob = orjson.dumps(same)

    def validate_same(n: int) -> None:
        for _ in range(n):
            engine.validate(same)

    def validate_many(n: int) -> None:
        for i in range(n):
            engine.validate(many[i % 2000])

    def orjson_same(n: int) -> None:
        for _ in range(n):
            orjson.dumps(orjson.loads(blob))

    def orjson_many(n: int) -> None:
        for i in range(n):
            orjson.dumps(orjson.loads(blobs[i % 2000]))

    from fhir.resources.R4B import get_fhir_model_class

    model = get_fhir_model_class(name)

    def models_many(n: int) -> None:
        for i in range(n):
            model.model_validate(many[i % 2000])

    models_rate, _, _ = paired(models_many, orjson_many, max(3, repeats // 2))
    same_rate, orjson_same_rate, same_ratio = paired(validate_same, orjson_same, repeats)
    many_rate, orjson_many_rate, many_ratio = paired(validate_many, orjson_many, repeats)
    return {
        "bytes": len(blob),
        "validate_same": same_rate,
        "validate_distinct": many_rate,
        "orjson_same": orjson_same_rate,
        "orjson_distinct": orjson_many_rate,
        "ratio_same": same_ratio,
        "ratio_distinct": many_ratio,
        "models_distinct": models_rate,
    }


STARTUP = """
import time
t0 = time.perf_counter()
from service.validation.definitions import load_core
t1 = time.perf_counter()
load_core()
t2 = time.perf_counter()
from service.validation import Engine
engine = Engine()
t3 = time.perf_counter()
from tests.validation import fixtures
engine.validate(fixtures.fresh("Observation"))
t4 = time.perf_counter()
print((t2 - t1) * 1000, (t3 - t2) * 1000, (t4 - t3) * 1000)
"""


def measure_startup(runs: int) -> None:
    """Median start-up figures of fresh processes (the definitions index must already exist)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    rows = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", STARTUP], cwd=root, capture_output=True, text=True, check=True)
        rows.append([float(x) for x in done.stdout.split()])
    names = ("load_core", "Engine()", "first validation")
    print("; ".join(f"{name} {statistics.median(r[i] for r in rows):.0f} ms" for i, name in enumerate(names)))


def measure_memory(count: int, trace: bool = True) -> None:
    """Time per resource and bytes the validator holds while validating ``count`` distinct mapped resources."""
    import gc
    import tracemalloc

    from common import RESOURCES_PER_EPISODE
    from paths import _mapped

    from service.validation.budget import INVARIANTS

    _, bundles = _mapped(max(1, count // RESOURCES_PER_EPISODE + 1))
    resources = [e["resource"] for b in bundles for e in b["entry"]][:count]
    del bundles
    engine = Engine()
    for r in resources[: 3 * RESOURCES_PER_EPISODE]:  # compiles every tree the episodes need (not counted)
        engine.validate(r)
    gc.collect()
    if trace:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    step, spent = max(1, len(resources) // 10), 0.0
    print(f"| resources validated | CPU us/resource (step{', traced' if trace else ''}) | held by the validator |")
    print("|---:|---:|---:|")
    for start in range(0, len(resources), step):
        began = time.process_time()
        for r in resources[start : start + step]:
            engine.validate(r)
        took = time.process_time() - began
        spent += took
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
        done = min(start + step, len(resources))
        shown = f"{held / 2**20:.1f} MiB" if trace else "-"
        print(f"| {done:,} | {took / (done - start) * 1e6:,.0f} | {shown} |", flush=True)
    total = len(resources)
    print(
        f"{total:,} resources: {spent / total * 1e6:,.0f} us/resource CPU; memo {len(engine.memo):,} entries; "
        f"invariant budget {INVARIANTS.held / 2**20:.1f} MiB counted"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--startup", type=int, metavar="N", help="measure start-up in N fresh processes instead")
    parser.add_argument("--memory", type=int, metavar="N", help="validate N distinct mapped resources instead")
    parser.add_argument("--cold", type=int, metavar="N", help="the same without tracemalloc")
    parser.add_argument("--episodes", type=int, metavar="N", help="validate N mapped episodes as the API does")
    parser.add_argument("--no-freeze", action="store_true", help="--episodes without the worker's gc tuning")
    parser.add_argument("--episode-work", type=int, metavar="N", help="map N episodes and validate them (valgrind)")
    parser.add_argument("--map-only", action="store_true", help="--episode-work without the validation")
    parser.add_argument("--fold", metavar="RAW", help="print a py-spy raw profile as shares per function")
    args = parser.parse_args()
    if args.fold:
        from validation_episodes import fold

        fold(args.fold)
        return 0
    ensure_definitions()
    if args.episodes or args.episode_work:
        from validation_episodes import episode_work, measure_episodes

        if args.episodes:
            measure_episodes(args.episodes, freeze=not args.no_freeze)
        else:
            episode_work(args.episode_work, not args.map_only)
        return 0
    if args.memory or args.cold:
        measure_memory(args.memory or args.cold, trace=bool(args.memory))
        return 0
    if args.startup:
        Engine()  # builds the index once if missing
        measure_startup(args.startup)
        return 0
    start = time.perf_counter()
    engine = Engine()
    engine.add(fixtures.questionnaire())
    startup = time.perf_counter() - start
    start = time.perf_counter()
    for name in ("Observation", "QuestionnaireResponse", "CarePlan"):
        engine.validate(fixtures.fresh(name))
    first = time.perf_counter() - start
    print(f"engine start {startup * 1000:.0f} ms; first validation of the 3 (compiling) {first * 1000:.0f} ms")
    print(
        "| Resource | Size | validate, same | validate, distinct | orjson loads+dumps | ratio same | ratio distinct "
        "| fhir.resources R4B model_validate (reference) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    labels = {
        "Observation": "Observation + profile",
        "QuestionnaireResponse": "QR, 20 items",
        "CarePlan": "CarePlan + profile",
    }
    for name, label in labels.items():
        m = measure(engine, name, 3 if args.quick else 7)
        print(
            f"| {label} | {m['bytes']:,.0f} B | {m['validate_same']:,.0f}/s | {m['validate_distinct']:,.0f}/s "
            f"| {m['orjson_distinct']:,.0f}/s | {m['ratio_same']:.1f}x | {m['ratio_distinct']:.1f}x "
            f"| {m['models_distinct']:,.0f}/s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
