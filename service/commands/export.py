"""``etmi-fhir export --out DIR``: NDJSON per resource type (Bulk Data format) and ``outcomes.csv``.

``DIR/<Type>.ndjson`` holds every current resource of that type, one per line; ``DIR/outcomes.csv``
one row per patient and date with the instrument columns of ``etmi-fhir import`` (``docs/import-export.md``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from service import compose
from service.config import Settings
from service.exchange.export import Selection, export_ndjson, write_outcomes_csv

HELP = "export the stored FHIR resources as NDJSON per type (Bulk Data format) and outcomes as a flat CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for <Type>.ndjson and outcomes.csv")
    parser.add_argument("--type", dest="types", help="comma-separated resource types (default: every stored type)")
    parser.add_argument("--since", help="only resources changed since this instant (e.g. 2026-01-01T00:00:00)")
    parser.add_argument("--database-url", help="instead of ETMI_DATABASE_URL")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args: argparse.Namespace) -> int:
    try:
        since = datetime.fromisoformat(args.since) if args.since else None
    except ValueError:
        print(f"etmi-fhir export: --since {args.since!r} is not an ISO date or instant", file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"etmi-fhir export: {out}: {err.strerror or err}", file=sys.stderr)
        return 2
    types = tuple(t.strip() for t in args.types.split(",") if t.strip()) if args.types else None
    store = compose.open_store(Settings.from_env(), args.database_url)
    try:
        def progress(rtype: str, count: int) -> None:
            if not args.quiet:
                print(f"export: {rtype}.ndjson {count} resources", file=sys.stderr)

        counts = export_ndjson(store.sessions, out, Selection(types, since.replace(tzinfo=None) if since else None),
                               progress)
        with (out / "outcomes.csv").open("w", encoding="utf-8", newline="") as handle:
            rows = write_outcomes_csv(store.sessions, handle)
    finally:
        store.close()
    print(f"exported {sum(counts.values())} resources of {len(counts)} types and {rows} outcome rows to {out}")
    return 0
