"""Export benchmark: ``etmi-fhir export`` of a synthetic cohort, resources/s and peak RSS per cohort size.

    .venv/bin/python bench/export_bench.py --patients 1000 10000

The cohort (``etmi-fhir generate``'s episodes, seed 2026) is mapped with the service's own mappings
and stored straight into a fresh SQLite database (no validation: this measures the export, not the
ingest). Then ``etmi-fhir export --out DIR`` runs in its own process; its peak resident set size comes
from ``wait4`` (``ru_maxrss``). The figures are in ``docs/import-export.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mappings.bundle import episode_resources  # noqa: E402
from mappings.payload import episode_from_json  # noqa: E402
from service.commands.cohort import cohort_episode  # noqa: E402
from service.commands.import_ import gather_statistics  # noqa: E402
from service.config import Settings  # noqa: E402
from service.ig import Package  # noqa: E402
from service.store import open_store  # noqa: E402
from service.store.db import transaction, utcnow  # noqa: E402
from service.store.id_key import mapping_context  # noqa: E402
from service.store.models import PatientRow  # noqa: E402
from service.store.resources import save_resources  # noqa: E402

BATCH = 200


def populate(url: str, patients: int) -> int:
    settings = Settings(database_url=url)
    store = open_store(url)
    questionnaires = Package.load(settings.profiles_dir).questionnaires()
    context = mapping_context(store, settings)
    stored = 0
    try:
        for start in range(0, patients, BATCH):
            with transaction(store.sessions) as session:
                now = utcnow()
                for index in range(start, min(patients, start + BATCH)):
                    episode = episode_from_json(cohort_episode(index, 2026))
                    resources = episode_resources(episode, questionnaires, context)
                    pid = next(str(r["id"]) for r in resources if r["resourceType"] == "Patient")
                    session.add(PatientRow(id=pid, identifier_system=episode.patient.system,
                                           identifier_value=episode.patient.value, created_at=now))
                    save_resources(session, resources, now)
                    stored += len(resources)
            if start == 0:  # the planner's statistics, as the import gathers them (bench/profiles/import.md)
                gather_statistics(store.engine)
    finally:
        store.close()
    return stored


def timed_export(url: str, out: Path) -> tuple[float, int, str]:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "export", "--out", str(out), "--quiet",
                                "--database-url", url], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    summary = process.stdout.read().strip() if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"export failed: {process.stderr.read() if process.stderr else ''}")
    return elapsed, usage.ru_maxrss // 1024, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    print(f"{'patients':>8} {'resources':>9} {'export s':>9} {'resources/s':>11} {'peak RSS':>9} {'NDJSON MB':>9}")
    for patients in args.patients:
        with tempfile.TemporaryDirectory(prefix="etmi-export-bench-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'etmi.db'}"
            resources = populate(url, patients)
            seconds, rss, summary = timed_export(url, Path(tmp) / "out")
            assert f"exported {resources} resources" in summary, summary
            size = sum(p.stat().st_size for p in (Path(tmp) / "out").glob("*.ndjson")) / 1e6
            print(f"{patients:>8} {resources:>9} {seconds:>9.1f} {resources / seconds:>11.0f} {rss:>5} MiB "
                  f"{size:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
