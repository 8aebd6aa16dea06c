"""Profile of ``etmi-fhir import`` (cProfile) on a generated registry, and the cost of the write pass's
current-version lookup with and without SQLite's statistics. The summary is in ``bench/profiles/import.md``.

    .venv/bin/python bench/profiles/profile_import.py --rows 1000 [--top 25] [--keep DIR]

The registry is the one of ``bench/import_bench.py`` (three time points per patient), imported into a
fresh SQLite database in this process under cProfile; prints wall time, the top functions by own time
and the cumulative time of the write pass's parts, then times the lookup on the database just written.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from import_bench import write_registry  # noqa: E402

PARTS = ("write_all", "_write_patient", "mapped", "validate", "_store", "save_resources", "transaction_bundle",
         "<method 'execute' of 'sqlite3.Cursor' objects>",
         "<method 'commit' of 'sqlite3.Connection' objects>")


def lookup_ms(database: Path) -> tuple[str, float]:
    """The plan and the time of one patient's current-version lookup (27 Observations) as the store asks it."""
    with sqlite3.connect(database) as db:
        ids = [r[0] for r in db.execute("SELECT resource_id FROM fhir_resource WHERE resource_type = "
                                        "'Observation' ORDER BY pk DESC LIMIT 27")]
        query = (f"SELECT resource_id, version_id, resource_hash FROM fhir_resource WHERE resource_type = ? AND "
                 f"resource_id IN ({','.join('?' * len(ids))}) AND current = 1")
        plan = db.execute(f"EXPLAIN QUERY PLAN {query}", ["Observation", *ids]).fetchall()[-1][-1]
        started = time.perf_counter()
        for _ in range(20):
            db.execute(query, ["Observation", *ids]).fetchall()
        return plan, (time.perf_counter() - started) / 20 * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", type=Path, help="write the .prof file and the database here")
    args = parser.parse_args()
    from service.cli import main as cli

    with tempfile.TemporaryDirectory(prefix="etmi-import-profile-") as tmp:
        where = args.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        csv, database = where / "registry.csv", where / "etmi.db"
        database.unlink(missing_ok=True)
        write_registry(csv, args.rows)
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.runcall(cli, ["import", str(csv), "--quiet", "--database-url", f"sqlite:///{database}"])
        print(f"{args.rows} rows: {time.perf_counter() - started:.1f} s wall under cProfile")
        profile.dump_stats(str(where / f"import-{args.rows}.prof"))
        stats = pstats.Stats(profile)
        entries = stats.stats  # type: ignore[attr-defined]
        for (file, _, name), (_, calls, own, cumulative, _) in sorted(entries.items(), key=lambda e: e[0][2]):
            if name in PARTS:
                where = f"{Path(file).parent.name}/{Path(file).name}:{name}" if file != "~" else name
                print(f"  {where:<60} {calls:>7} calls {cumulative:>7.1f} s cumulative {own:>6.1f} s own")
        stats.sort_stats("tottime").print_stats(args.top)
        plan, ms = lookup_ms(database)
        print(f"current-version lookup of 27 Observations: {ms:.2f} ms ({plan})")


if __name__ == "__main__":
    main()
