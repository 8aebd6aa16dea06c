"""``etmi-fhir definitions``: makes sure the FHIR R4 definitions are there and prints their directory.

Where the validator's definitions come from (also used by ``validate`` and ``serve``):
1. ``--definitions DIR`` or ``ETMI_R4_DEFINITIONS``, when set: that directory, or an error naming it;
2. the source checkout's ``.cache/r4`` (``scripts/r4-definitions`` fills it), when filled;
3. the user cache ``~/.cache/etmi-fhir/r4-4.0.1``, fetched on first use (about 9 MB, with a progress
   line on stderr; a clear error when offline). After ``pip install`` nothing else is needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "make sure the FHIR R4 definitions are present (fetched into ~/.cache/etmi-fhir on first use); print their path"
USER_CACHE = Path("~/.cache/etmi-fhir/r4-4.0.1")


class Unavailable(RuntimeError):
    """No definitions, and none could be fetched: the message says what to do."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--definitions", metavar="DIR", help="use this directory (it must be filled already)")


def present(directory: Path) -> bool:
    return (directory / "profiles-resources.json").is_file() and (directory / "ucum-essence.xml").is_file()


def _progress(done: int, total: int) -> None:
    end = "\n" if total and done >= total else "\r"
    share = f" ({100 * done // total}%)" if total else ""
    sys.stderr.write(f"etmi-fhir: fetching FHIR R4 definitions: {done / 1e6:.1f} MB{share}{end}")
    sys.stderr.flush()


def ensure(explicit: Path | None = None) -> Path:
    """The definitions directory, by the rules above; ``Unavailable`` when there is none."""
    from service.config import Settings

    settings, default = Settings.from_env(), Settings().r4_definitions
    chosen = explicit or (settings.r4_definitions if settings.r4_definitions != default else None)
    if chosen is not None:
        if present(chosen):
            return chosen
        raise Unavailable(f"FHIR R4 definitions not found in {chosen} (from --definitions or ETMI_R4_DEFINITIONS): "
                          "run scripts/r4-definitions DIR, or unset it to fetch them into the user cache")
    if present(default):
        return default
    cache = USER_CACHE.expanduser()
    if present(cache):
        return cache
    from service.adapters.r4_download import DownloadFailed, download_r4

    sys.stderr.write(f"etmi-fhir: first use: fetching the FHIR R4 definitions into {cache}\n")
    try:
        return download_r4(cache, _progress)
    except DownloadFailed as err:
        raise Unavailable(f"{err}. The validator needs the FHIR R4 definitions: connect to the internet once, "
                          f"or run scripts/r4-definitions DIR on a connected machine and set ETMI_R4_DEFINITIONS=DIR"
                          ) from None


def run(args: argparse.Namespace) -> int:
    try:
        print(ensure(Path(args.definitions) if args.definitions else None))
    except Unavailable as err:
        print(f"etmi-fhir definitions: {err}", file=sys.stderr)
        return 2
    return 0
