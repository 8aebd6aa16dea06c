"""``etmi-fhir map INPUT.json``: an ETMI episode payload -> its FHIR R4 transaction Bundle on stdout."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import orjson

from mappings.bundle import episode_issues, episode_to_bundle
from mappings.errors import Issue, MappingError, operation_outcome
from mappings.payload import episode_from_json
from mappings.questionnaire import QUESTIONNAIRE_URLS
from mappings.refs import TEST_CONTEXT, MappingContext
from service.config import Settings
from service.ig import DEFAULT_PACKAGE_DIR, load_package

HELP = "map an ETMI episode payload (JSON, see examples/) to a FHIR R4 transaction Bundle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="episode payload file, or - for standard input")
    parser.add_argument("--package", type=Path, default=DEFAULT_PACKAGE_DIR,
                        help="ETMI FHIR package folder holding the Questionnaires (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    try:
        raw = sys.stdin.buffer.read() if args.input == "-" else Path(args.input).read_bytes()
        data = json.loads(raw)
    except (OSError, ValueError) as err:
        outcome = operation_outcome([Issue("fatal", "structure", f"cannot read {args.input}: {err}", "$")])
        sys.stderr.write(orjson.dumps(outcome).decode() + "\n")
        return 2
    package = load_package(args.package)
    if len(package.questionnaires()) != len(QUESTIONNAIRE_URLS):
        outcome = operation_outcome([Issue("fatal", "not-found", f"the ETMI Questionnaires are not in {args.package}",
                                           "--package")])
        sys.stderr.write(orjson.dumps(outcome).decode() + "\n")
        return 2
    key = Settings.from_env().id_key  # Patient ids: ETMI_ID_KEY, else the public test key of the golden files
    try:
        episode = episode_from_json(data)
        bundle = episode_to_bundle(episode, package.questionnaires(), MappingContext(key.encode()) if key
                                   else TEST_CONTEXT)
    except MappingError as err:
        sys.stderr.write(orjson.dumps(err.to_operation_outcome(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return 1
    if issues := episode_issues(episode):  # warnings: the Bundle is still written, exit 0
        sys.stderr.write(orjson.dumps(operation_outcome(issues), option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.write(orjson.dumps(bundle, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
