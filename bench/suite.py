"""The benchmark suite behind ``bench/run``: every path at three sizes, each figure next to its same-run
baseline, a target column from issue 16 (pass/MISS, printed, never asserted), and a log-log slope of time
against size per path. Results go to stdout (markdown) and, after every section, to ``--out`` (JSON).

    bench/run --quick          # sizes 100 / 1k / 10k resources (rows for import), a few minutes
    bench/run                  # sizes 1k / 10k / 100k
    bench/run --only mapping,validation --sizes 100 1000

HAPI: ``--hapi URL``, else ``ETMI_TEST_HAPI_URL``, else one is started
with tests/servers/hapi/start (``--own-hapi`` forces that; full mode gives it 6 GB of heap). A size whose
predicted time (from the smaller sizes and the slope so far) is above ``--budget`` seconds is skipped and
reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import latency_bench
import paths
import pipeline
import report
from common import ROOT, load_average, slope

PATHS: dict[str, Callable[..., dict[str, Any]]] = {
    "mapping": paths.mapping, "validation": paths.validation, "ingest": pipeline.ingest, "push": pipeline.push,
    "import": paths.import_rows, "export": paths.export_resources,
}
NEEDS_HAPI = {"ingest", "push", "latency"}


def _predicted(points: list[dict[str, Any]], size: int) -> float:
    if not points:
        return 0.0
    last = points[-1]
    fitted = max(slope([(p["size"], p["seconds"]) for p in points]) or 1.0,  # the last step too: fixed costs
                 slope([(p["size"], p["seconds"]) for p in points[-2:]]) or 1.0)  # flatten the small sizes
    spent = max(float(last["seconds"]) + float(last.get("baseline_s", 0)), float(last.get("point_wall_s", 0)))
    growth: float = (size / float(last["size"])) ** max(1.0, fitted)
    return spent * growth


def _hapi(args: argparse.Namespace, stack: ExitStack) -> str:
    url = args.hapi or ("" if args.own_hapi else os.environ.get("ETMI_TEST_HAPI_URL", ""))
    if url:
        return str(url).rstrip("/")
    sys.path.insert(0, str(ROOT))
    from tests.servers.fixtures import ServerProcess

    print("starting HAPI (tests/servers/hapi/start) ...", flush=True)
    server = ServerProcess("hapi", timeout=1500, env={"HAPI_XMX": "2g" if args.quick else "6g"})
    stack.callback(server.stop)
    return server.url.rstrip("/")


def _save(args: argparse.Namespace, results: dict[str, Any]) -> None:
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.out.write_text(json.dumps(results, indent=1, default=str))


def _too_long(args: argparse.Namespace, name: str, size: int, guess: float) -> str:
    if size > args.max.get(name, size):
        return f"above --max {name}={args.max[name]}"
    if guess > args.budget:
        return f"predicted {guess:,.0f} s > budget {args.budget:,.0f} s"
    if args.until and time.time() + guess > args.until:
        return f"predicted {guess:,.0f} s would end after --until"
    return ""


def _path(name: str, args: argparse.Namespace, hapi: str, results: dict[str, Any]) -> None:
    points: list[dict[str, Any]] = []
    section: dict[str, Any] = {"points": points, "skipped": []}
    results["paths"][name] = section
    for size in args.sizes:
        guess = _predicted(points, size)
        if why := _too_long(args, name, size, guess):
            section["skipped"].append({"size": size, "predicted_s": round(guess), "why": why})
            print(f"  {name} {size}: skipped ({why})", flush=True)
            continue
        load = load_average()
        started = time.perf_counter()
        point = PATHS[name](size, hapi) if name in NEEDS_HAPI else PATHS[name](size)
        point.update(load_before=load, load_after=load_average(), at=datetime.now(UTC).strftime("%H:%M:%S"),
                     point_wall_s=round(time.perf_counter() - started, 1))  # setup and baseline included
        points.append(point)
        section["slope"] = slope([(p["size"], p["seconds"]) for p in points])
        section["baseline_slope"] = slope([(p["size"], p["baseline_s"]) for p in points if "baseline_s" in p])
        _save(args, results)
        print(f"  {name} {point['size']:,}: {point['seconds']:.2f} s (baseline {point.get('baseline_s', 0):.2f} s), "
              f"load {load}", flush=True)


def _observation(args: argparse.Namespace, hapi: str, results: dict[str, Any]) -> None:
    load = load_average()
    results["observation"] = {**paths.observation_ratio(args.quick), "load": load}
    print(f"  Observation + profile: {results['observation']['ratio']:.1f}x orjson", flush=True)


def _latency(args: argparse.Namespace, hapi: str, results: dict[str, Any]) -> None:
    load = load_average()
    results["latency"] = {**latency_bench.measure(hapi, args.latency_episodes), "load_before": load,
                          "load_after": load_average()}
    print(f"  write -> readable: p50 {results['latency']['p50_s']:.2f} s", flush=True)


SECTIONS: dict[str, Callable[[argparse.Namespace, str, dict[str, Any]], None]] = {
    "observation": _observation, "latency": _latency,
    **{name: partial(_path, name) for name in PATHS},
}
ORDER = "mapping,validation,observation,ingest,export,import,latency,push"  # the longest (push) last


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes 100 / 1k / 10k, 20 latency samples")
    parser.add_argument("--sizes", type=int, nargs="+", help="override the sizes")
    parser.add_argument("--only", default=ORDER, help=f"comma-separated sections, in this order (default {ORDER})")
    parser.add_argument("--until", help="UTC HH:MM: skip a size predicted to end later")
    parser.add_argument("--max", action="append", default=[], metavar="PATH=SIZE",
                        help="skip the sizes of PATH above SIZE (repeatable), e.g. --max ingest=10000")
    parser.add_argument("--budget", type=float, help="skip a size predicted to take longer (s); "
                                                     "default 300 quick, 3600 full")
    parser.add_argument("--hapi", help="HAPI base URL (default: ETMI_TEST_HAPI_URL, else start one)")
    parser.add_argument("--own-hapi", action="store_true", help="start a HAPI even if ETMI_TEST_HAPI_URL is set")
    parser.add_argument("--latency-episodes", type=int)
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/<mode>.json, and .md beside)")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    args.sizes = args.sizes or ([100, 1_000, 10_000] if args.quick else [1_000, 10_000, 100_000])
    args.budget = args.budget or (300.0 if args.quick else 3600.0)
    args.latency_episodes = args.latency_episodes or (20 if args.quick else 100)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    args.max = {k: int(v) for k, v in (item.split("=", 1) for item in args.max)}
    if unknown := (set(args.only) | set(args.max)) - set(SECTIONS):
        parser.error(f"unknown sections: {sorted(unknown)}")
    if args.until:
        hour, minute = (int(x) for x in args.until.split(":"))
        moment = datetime.now(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
        args.until = moment.timestamp() + (86400 if moment < datetime.now(UTC) else 0)
    args.out = args.out or ROOT / "bench" / "results" / f"{mode}.json"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.mode = mode
    return args


def main() -> int:
    args = _arguments()
    mode = args.mode
    command = "bench/run " + " ".join(sys.argv[1:])
    results: dict[str, Any] = {"mode": mode, "command": command.strip(), "sizes": args.sizes, "cores": os.cpu_count(),
                               "started": datetime.now(UTC).isoformat(timespec="seconds"), "paths": {}, "errors": {}}
    failed = False
    with ExitStack() as stack:
        hapi = _hapi(args, stack) if NEEDS_HAPI & set(args.only) else ""
        results["hapi"] = hapi
        for name in args.only:
            print(f"[{datetime.now(UTC):%H:%M:%S}] {name} (load {load_average()})", flush=True)
            try:
                SECTIONS[name](args, hapi, results)
            except Exception as exc:  # one broken path must not lose the others' figures
                failed = True
                results["errors"][name] = f"{type(exc).__name__}: {str(exc)[-600:]}"
                traceback.print_exc()
            _save(args, results)
    text = report.render(results)
    args.out.with_suffix(".md").write_text(text + "\n")
    print("\n" + text)
    print(f"\nJSON: {args.out}\nmarkdown: {args.out.with_suffix('.md')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
