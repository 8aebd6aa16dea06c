"""Helpers shared by the benchmark suite (bench/run): load average, peak RSS, log-log slopes, tables.

Nothing here times anything by itself; the suite's sections (bench/paths.py, bench/pipeline.py,
bench/latency_bench.py) do, and each figure goes next to a baseline measured in the same run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESOURCES_PER_EPISODE = 34  # the synthetic episodes (service/synthetic.py) map to 34-35 resources


def load_average() -> float:
    """The 1-minute load average (the 2-core machine is shared: shown next to every figure)."""
    return round(os.getloadavg()[0], 2)


def episodes_for(resources: int) -> int:
    """How many synthetic episodes make about ``resources`` FHIR resources (at least one)."""
    return max(1, round(resources / RESOURCES_PER_EPISODE))


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            out += [int(c) for c in task.read_text().split()]
        except OSError:
            continue
    return out


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def peak_rss_tree(pid: int) -> dict[str, float]:
    """Peak RSS (VmHWM, MiB) of ``pid`` and of the largest of its descendants (a gunicorn master and its
    workers): read while they still run, before they are stopped."""
    seen, todo, largest = set(), [pid], 0
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current != pid:
            largest = max(largest, _hwm_kib(current))
        todo += _children(current)
    return {"root_mib": round(_hwm_kib(pid) / 1024, 1), "largest_child_mib": round(largest / 1024, 1)}


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(time) against log(size): 1.0 is linear, 2.0 quadratic."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return round(sum((p[0] - mx) * (p[1] - my) for p in pts) / den, 2) if den else None


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("pass" if ok else "MISS")


def fmt(value: Any) -> str:
    """Numbers with as many decimals as their size needs (1,234 / 12.3 / 1.23 / 0.0123)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        size = abs(value)
        if size >= 100 or value == 0:
            return f"{value:,.0f}"
        return f"{value:.1f}" if size >= 10 else f"{value:.2f}" if size >= 1 else f"{value:.2g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    rule = "|".join("---" if i == 0 else "---:" for i in range(len(header)))
    lines = ["| " + " | ".join(header) + " |", f"|{rule}|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
