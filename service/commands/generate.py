"""``etmi-fhir generate --patients N --seed S``: a synthetic cohort of ETMI episode payloads.

The cohort is shaped by the study's published figures (``service/commands/cohort.py``,
``docs/synthetic-cohort.md``). Output: NDJSON (one payload per line) on stdout or ``--out FILE``, or
``--api URL`` POSTs every episode to a running service. Progress goes to stderr. Same seed, same bytes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import IO

import orjson

from service.commands.cohort import cohort_episode

HELP = "generate a seeded synthetic ETMI cohort (NDJSON payloads on stdout/--out, or POSTed with --api)"
LIMITS = (10, 100_000)


def _patients(text: str) -> int:
    value = int(text)
    if not LIMITS[0] <= value <= LIMITS[1]:
        raise argparse.ArgumentTypeError(f"--patients must be {LIMITS[0]}..{LIMITS[1]}, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--patients", type=_patients, default=100, help="cohort size, 10..100000 (default 100)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026): same seed, same cohort")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out", metavar="FILE", help="write NDJSON to FILE instead of stdout")
    target.add_argument("--api", metavar="URL", help="POST each episode to URL/api/v1/episodes (a running service)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


class Progress:
    """``generate: 1200/10000 patients (12%)`` on stderr, at most every half second, and at the end."""

    def __init__(self, total: int, verb: str, quiet: bool) -> None:
        self.total, self.verb, self.quiet, self.last = total, verb, quiet, 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if self.quiet or (done < self.total and now - self.last < 0.5):
            return
        self.last = now
        end = "\n" if done == self.total else "\r"
        sys.stderr.write(f"generate: {done}/{self.total} patients {self.verb} ({100 * done // self.total}%){end}")
        sys.stderr.flush()


def write_ndjson(out: IO[bytes], patients: int, seed: int, progress: Callable[[int], None]) -> None:
    for index in range(patients):
        out.write(orjson.dumps(cohort_episode(index, seed)) + b"\n")
        progress(index + 1)
    out.flush()


def post_all(url: str, patients: int, seed: int, progress: Callable[[int], None]) -> int:
    from service.adapters.etmi_api import ApiRefused, EpisodeApi

    api = EpisodeApi(url)
    try:
        for index in range(patients):
            api.post(cohort_episode(index, seed))
            progress(index + 1)
    except (ApiRefused, ConnectionError) as err:
        sys.stderr.write(f"\netmi-fhir generate: {err}\n")
        return 1
    finally:
        api.close()
    return 0


def run(args: argparse.Namespace) -> int:
    if args.api:
        return post_all(args.api, args.patients, args.seed, Progress(args.patients, "sent", args.quiet))
    progress = Progress(args.patients, "written", args.quiet or not args.out)
    if not args.out:
        try:
            write_ndjson(sys.stdout.buffer, args.patients, args.seed, progress)
        except BrokenPipeError:  # `generate | head`: the reader has what it wanted
            sys.stderr.close()
        return 0
    try:
        with open(args.out, "wb") as handle:
            write_ndjson(handle, args.patients, args.seed, progress)
    except OSError as err:
        sys.stderr.write(f"etmi-fhir generate: {args.out}: {err.strerror or err}\n")
        return 2
    return 0
