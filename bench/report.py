"""Markdown tables of a suite run (bench/suite.py): figures against same-run baselines with the targets of
issue 16 (pass / MISS: printed, never asserted), and time against size with the fitted log-log slope.

    .venv/bin/python bench/report.py bench/results/full.json     # re-render a saved run
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from common import markdown, slope, verdict

Row = list[Any]


def _largest(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    points = results["paths"].get(name, {}).get("points", [])
    return points[-1] if points else None


def _load(p: dict[str, Any]) -> str:
    return f"{p.get('load_before', p.get('load', '-'))}-{p.get('load_after', '-')}"


def _in_process(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if m := _largest(results, "mapping"):
        ratio = m["seconds"] / m["baseline_s"]
        rows.append([f"mapping, {m['size']:,} resources: resources/s", round(m["size"] / m["seconds"]),
                     round(m["size"] / m["baseline_s"]), f"{ratio:.1f}x slower", "within 8x", verdict(ratio <= 8),
                     _load(m)])
    if v := _largest(results, "validation"):
        ratio = v["seconds"] / v["baseline_s"]
        rows.append([f"validation of every mapped resource, {v['size']:,}: resources/s",
                     round(v["size"] / v["seconds"]), round(v["size"] / v["baseline_s"]), f"{ratio:.1f}x slower",
                     "(context)", "-", _load(v)])
    if o := results.get("observation"):
        rows.append(["validation, Observation + ETMI profile (distinct): /s CPU", round(o["validate_per_s"]),
                     round(o["orjson_per_s"]), f"{o['ratio']:.1f}x slower", "within 10x", verdict(o["ratio"] <= 10),
                     o["load"]])
    return rows


def _servers(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for p in results["paths"].get("ingest", {}).get("points", []):
        ratio = p["baseline_rps"] / p["rps"]
        rows.append([f"ingest, {p['episodes']:,} episodes ({p['size']:,} res.): episodes/s", round(p["rps"], 1),
                     round(p["baseline_rps"], 1), f"1/{ratio:.1f}", "at least 1/5", verdict(ratio <= 5), _load(p)])
        rows.append([f"ingest, {p['episodes']:,} episodes: p99 ms (4 clients, SQLite)", round(p["p99_ms"]),
                     round(p["baseline_p99_ms"]), f"{p['p99_ms'] / p['baseline_p99_ms']:.1f}x", "under 150 ms",
                     verdict(p["p99_ms"] < 150), _load(p)])
    for p in results["paths"].get("push", {}).get("points", []):
        ratio = p["rate"] / p["baseline_rate"]
        rows.append([f"push to HAPI, {p['size']:,} resources: resources/s (1 worker, defaults)", round(p["rate"], 1),
                     round(p["baseline_rate"], 1), f"{ratio:.2f}", "at least 0.90", verdict(ratio >= 0.9), _load(p)])
    if (taken := _largest(results, "ingest")) and (pushed := _largest(results, "push")):
        rate = taken["size"] / taken["seconds"]
        rows.append([f"ingest ({taken['size']:,} res.) against what HAPI absorbs: resources/s", round(rate),
                     round(pushed["baseline_rate"], 1), f"{rate / pushed['baseline_rate']:.0f}x",
                     "(context: above 1x the EHR is the limit)", "-", _load(taken)])
    if lat := results.get("latency"):
        rows.append([f"write -> readable on HAPI, p50 s ({lat['episodes']} episodes)", round(lat["p50_s"], 2),
                     round(lat["read_p50_s"], 3), "-", "p50 under 2 s", verdict(lat["p50_s"] < 2), _load(lat)])
        rows.append(["write -> readable on HAPI, p99 s", round(lat["p99_s"], 2), round(lat["read_p99_s"], 3), "-",
                     "reported", "-", _load(lat)])
    return rows


def _memory(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, label in (("import", "import (rows)"), ("export", "export (resources)")):
        for p in results["paths"].get(name, {}).get("points", []):
            rows.append([f"{label}, {p['size']:,}: per s; peak RSS {p['rss_mib']} MiB", round(p["size"] / p["seconds"]),
                         "-", "-", "(context)", "-", _load(p)])
    for name, label, key in (("ingest", "service (largest gunicorn worker)", "baseline_rss_mib"),
                             ("push", "worker", "idle_rss_mib")):
        points = results["paths"].get(name, {}).get("points", [])
        if len(points) >= 2:
            first, last = points[0], points[-1]
            growth = last["rss_mib"] / first["rss_mib"]
            rows.append([f"peak RSS of the {label}, {first['size']:,} -> {last['size']:,} resources, MiB",
                         f"{first['rss_mib']} -> {last['rss_mib']}", last[key], f"{growth:.2f}x",
                         "flat within 20%", verdict(growth <= 1.2), _load(last)])
    return rows


def _scaling(results: dict[str, Any]) -> tuple[list[Row], list[Row]]:
    detail: list[Row] = []
    summary: list[Row] = []
    for name, section in results["paths"].items():
        for p in section["points"]:
            base = p.get("baseline_s")
            detail.append([name, p["size"], p["seconds"], p["seconds"] / p["size"] * 1000,
                           base or "-", f"{p['seconds'] / base:.2f}" if base else "-",
                           p.get("rss_mib", "-"), _load(p)])
        for s in section.get("skipped", []):
            detail.append([name, s["size"], f"skipped ({s.get('why', s['predicted_s'])})", "-", "-", "-", "-", "-"])
        k = section.get("slope")
        last = slope([(p["size"], p["seconds"]) for p in section["points"][-2:]])
        worst = max(x for x in (k, last, 0.0) if x is not None)
        shape = "-" if k is None else "linear or better" if worst <= 1.15 else "WORSE THAN LINEAR"
        summary.append([name, ", ".join(f"{p['size']:,}" for p in section["points"]), k, last,
                        section.get("baseline_slope"), shape])
    return detail, summary


def render(results: dict[str, Any]) -> str:
    figures = _in_process(results) + _servers(results) + _memory(results)
    detail, summary = _scaling(results)
    parts = [
        f"## {results['mode']} run, {results['started']} to {results.get('finished', '?')} "
        f"({results['cores']} cores; `{results['command']}`)",
        "",
        markdown(["figure", "value", "same-run baseline", "ratio", "target (issue 16)", "result", "load avg"],
                 figures),
        "",
        "Time against size (log-log slope of seconds against size: 1.0 is linear):",
        "",
        markdown(["path", "sizes", "slope (fit)", "slope (last step)", "baseline slope", "shape"], summary),
        "",
        markdown(["path", "size", "seconds", "ms per item", "baseline s", "ratio", "peak RSS MiB", "load avg"],
                 detail),
    ]
    if results.get("errors"):
        parts += ["", "Errors: " + "; ".join(f"{k}: {v}" for k, v in results["errors"].items())]
    return "\n".join(parts)


if __name__ == "__main__":  # re-render a saved run: bench/report.py bench/results/full.json
    print(render(json.loads(Path(sys.argv[1]).read_text())))
