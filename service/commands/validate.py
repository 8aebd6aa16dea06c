"""``etmi-fhir validate FILE...``: validates FHIR R4 JSON files, one OperationOutcome per line (NDJSON).

Each file holds a resource or a Bundle (every entry is validated; expressions start with
``Bundle.entry[i].resource``). Resources are checked against base R4 and every known profile in
``meta.profile``; ``--profile URL`` forces one. ``-`` reads standard input. Exit status: 0 when no
issue is an error or fatal, 1 otherwise, 2 on usage errors (unreadable file, bad JSON, no definitions).
"""

from __future__ import annotations

import argparse
import sys

import orjson

HELP = "validate FHIR R4 JSON resources/Bundles against R4 and the ETMI profiles (NDJSON OperationOutcomes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="JSON file with a resource or Bundle; - for stdin")
    parser.add_argument("--profile", metavar="URL", help="validate against this profile instead of meta.profile")
    parser.add_argument(
        "--definitions", metavar="DIR", help="R4 definitions directory (default: ETMI_R4_DEFINITIONS or .cache/r4)"
    )
    parser.add_argument(
        "--models", action="store_true", help="also run the fhir.resources R4B models (second line of defence)"
    )
    parser.add_argument(
        "--profiles-dir",
        metavar="DIR",
        help="the project's conformance resources (default: ETMI_PROFILES_DIR or profiles/package)",
    )


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    with open(name, "rb") as handle:
        return handle.read()


def run(args: argparse.Namespace) -> int:
    from service.config import Settings
    from service.validation import DefinitionsMissing, Engine, has_errors
    from service.validation.jsonio import JsonProblem, Loaded, load_json

    documents: list[Loaded] = []
    for name in args.files:
        try:
            documents.append(load_json(_read(name)))  # a BOM is skipped; duplicate names are errors
        except OSError as exc:
            print(f"etmi-fhir validate: {name}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        except JsonProblem as exc:
            print(f"etmi-fhir validate: {name}: not JSON ({exc})", file=sys.stderr)
            return 2
    try:
        settings = Settings.from_env()
        engine = Engine(args.definitions or settings.r4_definitions, args.profiles_dir or settings.profiles_dir,
                        models=args.models)
    except DefinitionsMissing as exc:
        print(f"etmi-fhir validate: {exc}", file=sys.stderr)
        return 2
    if args.profile and args.profile.split("|", 1)[0] not in engine.defs.structures:
        print(f"etmi-fhir validate: unknown profile {args.profile}", file=sys.stderr)
        return 2
    failed = False
    out = sys.stdout.buffer
    for document in documents:
        outcome = engine.validate_loaded(document, args.profile)
        failed = failed or has_errors(outcome)
        out.write(orjson.dumps(outcome) + b"\n")
    out.flush()
    return 1 if failed else 0
