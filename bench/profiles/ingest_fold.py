"""Shares of py-spy samples per function under ``post_episode`` (the text form of a flame graph).

    py-spy record -r 200 -f raw -o ingest.raw -- .venv/bin/python bench/profiles/profile_ingest.py \
        --episodes 100 --no-cprofile
    .venv/bin/python bench/profiles/ingest_fold.py ingest.raw [TOP] [ROOT]

ROOT (default ``post_episode``): the frame whose samples are counted; ``Flask.wsgi_app`` takes in the request
parsing (the schema load) and the hooks around the view.

Inclusive: the share of samples with the function anywhere on the stack; own: on top of it. py-spy samples
threads that are not idle, so on a loaded VM a preempted thread still counts: read shares, not times.
"""

from __future__ import annotations

import sys
from collections import Counter


def frame_name(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0]})" if where else name


def main() -> None:
    total, inclusive, own = 0, Counter[str](), Counter[str]()
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 45
    root = (sys.argv[3] if len(sys.argv) > 3 else "post_episode") + " "
    with open(sys.argv[1]) as raw:
        for line in raw:
            stack, _, count = line.rstrip().rpartition(" ")
            frames = [frame_name(f) for f in stack.split(";")]
            if not any(f.startswith(root) for f in frames):
                continue
            total += int(count)
            for name in set(frames):
                inclusive[name] += int(count)
            own[frames[-1]] += int(count)
    print(f"samples under {root.strip()}: {total}\n\ninclusive:")
    for name, n in inclusive.most_common(top):
        print(f"{100 * n / total:6.1f}% {name}")
    print("\nown:")
    for name, n in own.most_common(25):
        print(f"{100 * n / total:6.1f}% {name}")


if __name__ == "__main__":
    main()
