"""``etmi-fhir import FILE.csv|FILE.ndjson``: an outcome registry into episodes (``docs/import-export.md``).

Two passes. The first streams the file, checks every row (each problem named by row and column) and
keeps the good ones in a temporary SQLite file (duplicates found there); with any problem nothing is
written unless ``--skip-bad``. The second writes each patient's rows through ``EpisodeWriter`` (mapping,
validation, outbox, audit as an API write). A patient whose rows are already stored is skipped without
a write, so running the import again after an interruption continues where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine, select

from mappings.errors import MappingError
from service import compose
from service.config import Settings
from service.episodes.model import Caller
from service.episodes.writes import EpisodeWriter
from service.errors import ApiError
from service.exchange.payload import episode_id, merged
from service.exchange.reader import Cells, FileRefused, rows
from service.exchange.registry import Row, RowError, check_row
from service.exchange.staging import Staging
from service.fhir.validator import validate
from service.store.models import DomainRecord
from service.wiring import Context

HELP = "import an outcome registry (CSV or NDJSON, one row per patient and time point) into episodes"
KINDS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson"}
STATISTICS_AFTER = 200  # patients written, then the planner's statistics are gathered again


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the registry: .csv (with a header row) or .ndjson (one object per line)")
    parser.add_argument("--format", choices=("csv", "ndjson"), help="instead of the file name's extension")
    parser.add_argument("--skip-bad", action="store_true", help="import the good rows and report the bad ones "
                        "(default: a file with any bad row changes nothing)")
    parser.add_argument("--database-url", help="instead of ETMI_DATABASE_URL")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


class Progress:
    """``import: checked 1200 rows`` on stderr, at most every half second, and at the end."""

    def __init__(self, quiet: bool, out: TextIO = sys.stderr) -> None:
        self.quiet, self.out, self.last = quiet, out, 0.0

    def __call__(self, text: str, final: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not final and now - self.last < 0.5):
            return
        self.last = now
        self.out.write(f"import: {text}" + ("\n" if final else "\r"))
        self.out.flush()


def check_file(path: Path, kind: str, staging: Staging, progress: Progress) -> int:
    """Pass 1: every row checked and the good ones staged; each problem printed; returns their number."""
    errors = 0

    def report(found: list[RowError]) -> None:
        nonlocal errors
        for error in found:
            errors += 1
            print(f"{path.name}: {error}", file=sys.stderr)

    seen = 0
    with path.open("rb") as handle:
        for item in rows(handle, kind):
            seen += 1
            if isinstance(item, RowError):
                report([item])
                continue
            row, problems = check_row(item.number, item.cells) if isinstance(item, Cells) else (None, [])
            report(problems)
            if row is not None:
                report(staging.add(row))
            progress(f"checked {seen} rows")
    report(staging.flush())
    progress(f"checked {seen} rows, {errors} problem(s)", final=True)
    return errors


def context(settings: Settings, database_url: str | None) -> Context:
    from service.commands.definitions import ensure

    settings = dataclasses.replace(settings, r4_definitions=ensure())
    compose.configure_validator(settings)
    store = compose.open_store(settings, database_url, migrate=True)
    return Context(settings=settings, store=store, package=compose.package(settings), verifier=None,
                   validate=validate, target_names=tuple(t.name for t in compose.targets(settings)))


@dataclasses.dataclass
class Tally:
    written: int = 0
    unchanged: int = 0
    refused: int = 0
    patients: int = 0


def write_all(ctx: Context, staging: Staging, progress: Progress) -> Tally:
    """Pass 2: one write per patient whose rows are not stored yet."""
    writer, tally = EpisodeWriter(ctx.episodes), Tally()
    caller = Caller(actor="cli:import", request_id=f"import-{uuid.uuid4().hex[:12]}")
    total = staging.patient_count()
    gather_statistics(ctx.store.engine)
    for group in staging.patients():
        tally.patients += 1
        _write_patient(ctx, writer, caller, group, tally)
        if tally.patients == STATISTICS_AFTER:
            gather_statistics(ctx.store.engine)
        progress(f"{tally.patients}/{total} patients ({tally.written} rows written, {tally.unchanged} already "
                 f"stored, {tally.refused} refused)", final=tally.patients == total)
    return tally


def gather_statistics(engine: Engine) -> None:
    """SQLite's planner without statistics looks up a resource's current version by its type alone
    (``ix_fhir_resource_current``): every write scans all current resources of that type, so each is
    slower than the last (bench/profiles/). ``ANALYZE`` (sampled) gives it the numbers that make it use
    the unique (type, id, version) index; PostgreSQL keeps its own statistics."""
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA analysis_limit=1000")
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()  # pooled connections read the statistics when they next open


def _write_patient(ctx: Context, writer: EpisodeWriter, caller: Caller, group: list[Row], tally: Tally) -> None:
    eid = episode_id(group[0].system, group[0].value)
    with ctx.store.sessions() as session:
        record = session.scalar(select(DomainRecord).where(DomainRecord.kind == "episode",
                                                           DomainRecord.business_id == eid))
    stored: dict[str, Any] | None = record.data if record else None
    todo = [row for row in group if stored is None or merged(stored, [row]) != stored]  # a row done is skipped
    tally.unchanged += len(group) - len(todo)
    if not todo:
        return
    try:
        writer.write(merged(stored, todo), "create" if record is None else "replace",
                     dataclasses.replace(caller, base_version=record.version if record else None))
        tally.written += len(todo)
    except (MappingError, ApiError) as err:
        tally.refused += len(todo)
        numbers = ", ".join(str(r.number) for r in todo)
        print(f"rows {numbers}: refused: {_reason(err)}", file=sys.stderr)


def _reason(err: MappingError | ApiError) -> str:
    if isinstance(err, MappingError):
        return "; ".join(f"{i.expression}: {i.diagnostics}" for i in err.issues[:5])
    return str(err)


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    kind = args.format or KINDS.get(path.suffix.lower())
    if kind is None:
        print(f"etmi-fhir import: {path.name}: say --format csv or ndjson (the extension is not .csv/.ndjson)",
              file=sys.stderr)
        return 2
    progress = Progress(args.quiet)
    with Staging() as staging:
        try:
            errors = check_file(path, kind, staging, progress)
        except FileRefused as err:
            print(f"etmi-fhir import: {path.name}: {err}; nothing imported", file=sys.stderr)
            return 1
        except OSError as err:
            print(f"etmi-fhir import: {path.name}: {err.strerror or err}", file=sys.stderr)
            return 2
        if errors and not args.skip_bad:
            print(f"etmi-fhir import: {errors} problem(s) in {path.name}: nothing imported "
                  "(fix them, or --skip-bad to import the good rows)", file=sys.stderr)
            return 1
        ctx = context(Settings.from_env(), args.database_url)
        try:
            tally = write_all(ctx, staging, progress)
        finally:
            ctx.store.close()
    print(f"imported {path.name}: {staging.count} good rows of {tally.patients} patients: {tally.written} written, "
          f"{tally.unchanged} already stored, {tally.refused} refused; {errors} bad rows skipped")
    return 1 if tally.refused else 0
