"""``etmi-fhir`` command line: one sub-command per module in ``service/commands``.

Each module listed in ``COMMANDS`` exposes ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int`` (the exit code). Modules are imported only when their command runs, so a
command's dependencies never slow down another.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, str] = {
    "map": "service.commands.map",
    "validate": "service.commands.validate",
    "serve": "service.commands.serve",
    "sync": "service.commands.sync",
    "worker": "service.commands.worker",
    "check-server": "service.commands.check_server",
    "generate": "service.commands.generate",
    "definitions": "service.commands.definitions",
    "import": "service.commands.import_",
    "export": "service.commands.export",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's module is imported (the common case)."""
    parser = argparse.ArgumentParser(prog="etmi-fhir", description="ETMI FHIR R4 interoperability service")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    only = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only).parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
