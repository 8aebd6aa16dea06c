"""The validation of mapped episodes as ``POST /api/v1/episodes`` does it: ``bench/validation_bench.py --episodes N``
(CPU ms per episode) and ``--episode-work N [--map-only]`` (for instruction counts under valgrind); ``--fold RAW``
prints a py-spy raw profile (of any validation workload) as shares per function.

``--episodes N``: N distinct synthetic episodes per pass, 5 passes, CPU ms of validation per episode (median), after a
warm-up pass and the gunicorn worker's garbage collector tuning (``service.commands.serve.tune_gc``; ``--no-freeze``:
without it). ``--episode-work N`` maps N episodes and validates them, ``--map-only`` does not: under ``valgrind
--tool=cachegrind`` the difference of the two instruction counts divided by N is the validation's instructions per
episode, a figure the machine's load does not move (bench/profiles/validation.md, Session 20).

Rule: the episodes are distinct (unique patient and episode ids), mapped with ``mappings.bundle.episode_resources``
and each resource validated once by the process-wide engine, as ``service.episodes.checks.mapped`` does.
"""

from __future__ import annotations

import collections
import statistics
import time
from pathlib import Path
from typing import Any

from service.validation import has_errors

JSON = dict[str, Any]


def _mapped_episodes(offset: int, count: int) -> list[list[JSON]]:
    """The resources of ``count`` distinct synthetic episodes (unique patient and episode ids), as the API maps
    them (``mappings.bundle.episode_resources``)."""
    import uuid

    from mappings.bundle import episode_resources
    from mappings.payload import episode_from_json
    from service.ig import load_package
    from service.synthetic import synthetic_episode

    questionnaires = load_package().questionnaires()
    out = []
    for i in range(offset, offset + count):
        payload = synthetic_episode(i)
        run = uuid.uuid4().hex[:10]
        payload["patient"]["value"] = f"{payload['patient']['value']}-{run}"
        payload["episode_id"] = f"{payload['episode_id']}-{run}"
        out.append(episode_resources(episode_from_json(payload), questionnaires))
    return out


def _warm_episodes() -> None:
    """Compiles every tree the episodes need (40 episodes validated, not counted)."""
    from service.validation import validate

    for resources in _mapped_episodes(10_000, 40):
        for r in resources:
            assert not has_errors(validate(r)), validate(r)


def measure_episodes(count: int, passes: int = 5, freeze: bool = True) -> None:
    """CPU ms of validation per mapped episode, as the API's ingest validates it (distinct episodes)."""
    from service.validation import validate

    _warm_episodes()
    if freeze:  # what each gunicorn worker does once its app is loaded (older trees: freeze only)
        try:
            from service.commands.serve import tune_gc
        except ImportError:
            import gc

            gc.collect()
            gc.freeze()
        else:
            tune_gc()
    per_episode, sizes = [], []
    for n in range(passes):
        work = _mapped_episodes(n * count, count)
        sizes += [len(e) for e in work]
        start = time.process_time()
        for resources in work:
            for r in resources:
                validate(r)
        per_episode.append((time.process_time() - start) / count * 1000)
    shown = ", ".join(f"{x:.2f}" for x in per_episode)
    print(f"{count} episodes x {passes} passes, {statistics.mean(sizes):.1f} resources per episode: "
          f"validation {statistics.median(per_episode):.2f} ms CPU per episode (median; passes: {shown})")


def episode_work(count: int, validate_them: bool) -> None:
    """For instruction counts (valgrind): map ``count`` episodes after the warm-up and validate them or not; the
    difference of two runs divided by ``count`` is the validation's instructions per episode."""
    from service.validation import validate

    _warm_episodes()
    work = _mapped_episodes(0, count)
    if validate_them:
        for resources in work:
            for r in resources:
                validate(r)


def fold(raw: str, top: int = 40) -> None:
    """Shares of py-spy samples under ``Engine.validate``: inclusive (anywhere on the stack) and own."""
    total, inclusive, own = 0, collections.Counter[str](), collections.Counter[str]()
    for line in Path(raw).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] for f in stack.split(";")]
        if "Engine.validate" in frames:
            total += int(count)
            inclusive.update({name: int(count) for name in set(frames)})
            own[frames[-1]] += int(count)
    for title, shares in (("inclusive", inclusive), ("own", own)):
        print(f"{title} ({total:,} samples under Engine.validate):")
        print("\n".join(f"{100 * n / total:6.1f}% {name}" for name, n in shares.most_common(top)))
