"""In-process and command paths of the suite: mapping, validation, import, export, each at several sizes.

Every function returns one point per size: ``{"size": resources or rows, "seconds": ..., "baseline_s": ...}``
plus whatever else the path has (peak RSS for the commands). Baselines are measured in the same process
right after the path, on the same data:

- mapping: payload -> Episode -> resources -> transaction Bundle, against ``orjson.loads`` + ``orjson.dumps``
  of the resources it produced;
- validation: ``default_engine().validate`` of every mapped resource (distinct resources, the realistic
  case), against the same orjson round trip;
- import / export: ``bench/import_bench.py`` and ``bench/export_bench.py`` (owned by the import/export
  work, called as they are), each in its own process; no baseline (rows/s and peak RSS per size).
"""

from __future__ import annotations

import gc
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from common import RESOURCES_PER_EPISODE, ROOT, episodes_for

sys.path.insert(0, str(ROOT))

Point = dict[str, Any]


def _best(repeats: int, work: Callable[[], object]) -> float:
    """Best CPU time of this process (``time.process_time``: other jobs on the shared machine count
    less than in wall time) over ``repeats`` runs. The bench's own data (payloads, Bundles, encoded copies: up to
    100k resources) is frozen out of the cyclic GC first, so collections scan what the path allocates,
    as in the service (one episode per request), not the whole data set."""
    gc.collect()
    gc.freeze()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    gc.unfreeze()
    return min(times)


def _round_trip(encoded: list[bytes]) -> None:
    """The baseline: ``orjson.loads`` + ``orjson.dumps`` of each resource, each result dropped at once."""
    for blob in encoded:
        orjson.dumps(orjson.loads(blob))


def _repeats(size: int) -> int:
    return 5 if size <= 2_000 else 3 if size <= 20_000 else 1


def _mapped(episodes: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from mappings.bundle import episode_to_bundle
    from mappings.payload import episode_from_json
    from service.ig import load_package
    from service.synthetic import synthetic_episode

    questionnaires = load_package().questionnaires()
    payloads = [synthetic_episode(i) for i in range(episodes)]
    bundles = [episode_to_bundle(episode_from_json(p), questionnaires) for p in payloads]
    return payloads, bundles


def mapping(size: int) -> Point:
    from mappings.bundle import episode_to_bundle
    from mappings.payload import episode_from_json
    from service.ig import load_package

    questionnaires = load_package().questionnaires()
    payloads, bundles = _mapped(episodes_for(size))
    resources = [e["resource"] for b in bundles for e in b["entry"]]
    encoded = [orjson.dumps(r) for r in resources]
    repeats = _repeats(size)

    def work() -> None:
        for p in payloads:  # each Bundle dropped at once, as a request would
            episode_to_bundle(episode_from_json(p), questionnaires)

    took = _best(repeats, work)
    base = _best(repeats, lambda: _round_trip(encoded))
    return {"size": len(resources), "episodes": len(payloads), "seconds": took, "baseline_s": base,
            "repeats": repeats}


def validation(size: int) -> Point:
    from service.validation import default_engine, has_errors

    _, bundles = _mapped(episodes_for(size))
    resources = [e["resource"] for b in bundles for e in b["entry"]]
    engine = default_engine()
    bad = [r["resourceType"] for r in resources[:RESOURCES_PER_EPISODE] if has_errors(engine.validate(r))]
    if bad:
        raise SystemExit(f"validation bench: mapped resources do not validate: {bad}")
    encoded = [orjson.dumps(r) for r in resources]
    repeats = _repeats(size)

    def work() -> None:
        for r in resources:
            engine.validate(r)

    took = _best(repeats, work)
    base = _best(repeats, lambda: _round_trip(encoded))
    return {"size": len(resources), "seconds": took, "baseline_s": base, "repeats": repeats}


def observation_ratio(quick: bool) -> dict[str, float]:
    """The issue's validation target: Observation + ETMI profile, distinct variants, against orjson
    (``bench/validation_bench.py``'s measurement, CPU time, median of back-to-back pairs)."""
    from validation_bench import measure

    from service.validation import Engine
    from tests.validation import fixtures
    from tests.validation.conftest import ensure_definitions

    ensure_definitions()
    engine = Engine()
    engine.add(fixtures.questionnaire())
    m = measure(engine, "Observation", 3 if quick else 7)
    return {"validate_per_s": m["validate_distinct"], "orjson_per_s": m["orjson_distinct"],
            "ratio": m["ratio_distinct"]}


def _run(script: str, *args: str) -> list[str]:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=6 * 3600)
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed: {done.stderr[-1500:]}")
    return [line for line in done.stdout.splitlines() if re.match(r"\s*\d", line)]


def import_rows(size: int) -> Point:
    """``etmi-fhir import`` of a ``size``-row registry into a fresh SQLite database (import_bench.py)."""
    (line,) = _run("import_bench.py", "--rows", str(size))
    cols = line.split()
    return {"size": int(cols[0]), "seconds": float(cols[1]), "rss_mib": int(cols[3]),
            "rerun_s": float(cols[5]), "rerun_rss_mib": int(cols[7])}


def export_resources(size: int) -> Point:
    """``etmi-fhir export`` of a cohort of about ``size`` resources (export_bench.py: ~37 per patient)."""
    patients = max(1, round(size / 37))
    (line,) = _run("export_bench.py", "--patients", str(patients))
    cols = line.split()
    return {"size": int(cols[1]), "patients": int(cols[0]), "seconds": float(cols[2]), "rss_mib": int(cols[4])}
