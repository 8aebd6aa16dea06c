"""Import benchmark: ``etmi-fhir import`` of generated registries of several sizes, rows/s and peak RSS.

    .venv/bin/python bench/import_bench.py --rows 1000 10000 [100000]

Each size is a fresh CSV (three time points per patient: intake, session 2, discharge, deterministic)
imported into a fresh SQLite database by ``etmi-fhir import`` in its own process; the process's peak
resident set size comes from ``wait4`` (``ru_maxrss``). A second run of the same file (every row
already stored) shows the cost of the resume check. ``--check-only`` measures the first pass alone
(streaming, row checks, the staging file): the file gets one bad last row, so the import reads and
checks everything, then stops with nothing written. The figures are in ``docs/import-export.md``.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = ("patient_system,patient_id,date,function,pain,fear_avoidance,fabq_pa,phq2,gad2,evs_min_week,stage,"
          "session,etmi\n")
STAGES = ("precontemplation", "contemplation", "preparation", "action", "maintenance")


def write_registry(path: Path, rows: int, seed: int = 2026) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for index in range(rows):
            patient, point = divmod(index, 3)
            day = f"2026-{1 + point:02d}-{1 + patient % 28:02d}"
            function = round(min(100.0, max(0.0, rng.gauss(50 + 10 * point, 15))), 1)
            pain = min(10, max(0, round(rng.gauss(6 - point, 2))))
            out.write(f"urn:oid:2.16.840.1.113883.3.7777.1,BENCH-{patient:07d},{day},{function},{pain},"
                      f"{rng.randint(20, 80)},{rng.randint(0, 24)},{rng.randint(0, 6)},{rng.randint(0, 6)},"
                      f"{rng.choice((0, 30, 60, 150, 300))},{rng.choice(STAGES)},{point + 1},{point % 2 == 0}\n")


def timed_import(csv: Path, database: Path, expect: int = 0) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MiB and the summary line of one ``etmi-fhir import`` process."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "import", str(csv), "--quiet",
                                "--database-url", f"sqlite:///{database}"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    out = process.stdout.read().strip() if process.stdout else ""
    err = process.stderr.read().strip() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != expect:
        raise SystemExit(f"import failed: {out} {err[-2000:]}")
    return elapsed, usage.ru_maxrss // 1024, out or err.splitlines()[-1]


def check_only(sizes: list[int]) -> None:
    print(f"{'rows':>8} {'check s':>8} {'rows/s':>8} {'peak RSS':>9}")
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="etmi-import-bench-") as tmp:
            csv, database = Path(tmp) / "registry.csv", Path(tmp) / "etmi.db"
            write_registry(csv, rows)
            with csv.open("a", encoding="utf-8") as out:
                out.write("urn:x,BAD,2026-13-01,,,,,,,,,,\n")
            seconds, rss, summary = timed_import(csv, database, expect=1)
            assert "1 problem(s)" in summary and "nothing imported" in summary, summary
            print(f"{rows:>8} {seconds:>8.1f} {rows / seconds:>8.0f} {rss:>5} MiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--check-only", action="store_true", help="the first pass alone (see above)")
    args = parser.parse_args()
    if args.check_only:
        check_only(args.rows)
        return
    print(f"{'rows':>8} {'import s':>9} {'rows/s':>8} {'peak RSS':>9} {'re-run s':>9} {'re-run rows/s':>13} "
          f"{'re-run RSS':>10}")
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="etmi-import-bench-") as tmp:
            csv, database = Path(tmp) / "registry.csv", Path(tmp) / "etmi.db"
            write_registry(csv, rows)
            first, rss, _ = timed_import(csv, database)
            again, rss2, summary = timed_import(csv, database)
            assert f"0 written, {rows} already stored" in summary, summary
            print(f"{rows:>8} {first:>9.1f} {rows / first:>8.0f} {rss:>7} MiB {again:>9.1f} {rows / again:>13.0f} "
                  f"{rss2:>6} MiB", flush=True)


if __name__ == "__main__":
    main()
