"""Where the instructions of one request go, by shared library and by C function (valgrind's callgrind).

Run ``request_instructions.py`` under callgrind twice, with 0 requests and with N, and give both outputs here:
the difference divided by N is one request without the start-up (imports, FHIR definitions, the first requests).

    for n in 0 40; do valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n.out \\
        .venv/bin/python bench/profiles/request_instructions.py --mode full $n; done
    .venv/bin/python bench/profiles/callgrind_split.py /tmp/cg.0.out /tmp/cg.40.out 40

Python code shows as the interpreter's own functions (``libpython``: the eval loop, dict lookups, allocation),
not by Python function: for those, ``profile_ingest.py``. The summary is in ``bench/profiles/ingest.md``
(Session 22). Counts are exact whatever the VM's load; valgrind emulates no SHA extensions, so ``libcrypto``
(the content hashes) counts more than it costs on the hardware.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections import Counter

_LINE = re.compile(r"\s*([\d,]+) \([\s\d.]+%\)\s+(.*)$")


def per_function(path: str) -> Counter[str]:
    """Own instructions per ``file:function [library]`` (``callgrind_annotate``)."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", path], check=True, capture_output=True,
                          text=True).stdout
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        found = _LINE.match(line)
        if found and "PROGRAM TOTALS" not in line:
            counts[found.group(2)] += int(found.group(1).replace(",", ""))
    return counts


def library(name: str) -> str:
    """The shared library; callgrind_annotate names none for functions inlined from CPython's headers."""
    found = re.search(r"\[([^\]]*)\]$", name)
    if found:
        return found.group(1).rsplit("/", 1)[-1]
    return "libpython, inlined" if "/Python-" in name else "(not named)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="callgrind output of the run with 0 requests")
    parser.add_argument("after", help="callgrind output of the run with N requests")
    parser.add_argument("n", type=int, help="N")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    before, after = per_function(args.before), per_function(args.after)
    one = {name: (after[name] - before[name]) / args.n for name in set(before) | set(after)}
    total = sum(one.values())
    by_library: Counter[str] = Counter()
    for name, count in one.items():
        by_library[library(name)] += int(count)
    print(f"{total / 1e6:.1f} M instructions per request\n\n| library | M per request | share |\n|---|---:|---:|")
    for name, count in by_library.most_common(10):
        print(f"| {name} | {count / 1e6:.2f} | {count / total:.0%} |")
    print("\n| C function (own) | M per request |\n|---|---:|")
    for name, count in sorted(one.items(), key=lambda item: -item[1])[:args.top]:
        short = re.sub(r"^.*?:(?=[^:/]+ \[)", "", name).split(" [")[0]
        print(f"| {short} ({library(name)}) | {count / 1e6:.2f} |")


if __name__ == "__main__":
    main()
