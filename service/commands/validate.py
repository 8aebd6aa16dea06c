"""``etmi-fhir validate FILE...``: validates FHIR R4 JSON files, one OperationOutcome per line (NDJSON).

Each file holds a resource or a Bundle (every entry is validated; expressions start with
``Bundle.entry[i].resource``). Resources are checked against base R4 and every known profile in
``meta.profile``; ``--profile URL`` forces one. ``-`` reads standard input. Exit status: 0 when no
issue is an error or fatal, 1 otherwise, 2 on usage errors (unreadable file, bad JSON, no definitions, an
ETMI episode payload: that is for ``etmi-fhir map``). Without definitions, they are fetched on first use
(``service/commands/definitions.py``).
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
        "--definitions", metavar="DIR",
        help="R4 definitions directory (default: ETMI_R4_DEFINITIONS, .cache/r4, or fetched into ~/.cache/etmi-fhir)"
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


def _episode(value: object) -> bool:
    """An ETMI episode payload (examples/README.md): no resourceType, an episode_id and sessions or responses."""
    return (isinstance(value, dict) and "resourceType" not in value and "episode_id" in value
            and ("sessions" in value or "responses" in value or "patient" in value))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from service.commands.definitions import Unavailable, ensure
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
    if episode := next((name for name, doc in zip(args.files, documents, strict=True) if _episode(doc.value)), None):
        print(f"etmi-fhir validate: {episode} is an ETMI episode payload, not a FHIR resource: "
              f"map it with `etmi-fhir map {episode}` (then validate the Bundle it writes)", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
        definitions = ensure(Path(args.definitions) if args.definitions else None)
        engine = Engine(definitions, args.profiles_dir or settings.profiles_dir, models=args.models)
    except (DefinitionsMissing, Unavailable) as exc:
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
