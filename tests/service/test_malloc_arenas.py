"""``etmi-fhir serve`` caps glibc's malloc arenas of its threaded workers (``limit_malloc_arenas``).

Each probe runs in a fresh interpreter (arenas are per process and never go away): six threads allocate at
once, then glibc's own ``malloc_info`` counts the heaps (arenas) the process has. Not timed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys

import pytest

from service.commands.serve import MALLOC_ARENAS

PROBE = r"""
import ctypes, ctypes.util, sys, tempfile, threading
from service.commands.serve import limit_malloc_arenas
applied = limit_malloc_arenas() if sys.argv[1] == "limit" else False
barrier, held = threading.Barrier(6), []
def work():
    held.append([bytearray(2048) for _ in range(50)])  # 2 KiB: malloc, not pymalloc nor mmap
    barrier.wait()  # every thread alive at once: none reuses an arena a finished thread left
threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fopen.restype, libc.fopen.argtypes = ctypes.c_void_p, (ctypes.c_char_p, ctypes.c_char_p)
libc.malloc_info.argtypes, libc.fclose.argtypes = (ctypes.c_int, ctypes.c_void_p), (ctypes.c_void_p,)
with tempfile.NamedTemporaryFile(suffix=".xml") as f:
    fp = libc.fopen(f.name.encode(), b"w")
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    print(applied, open(f.name).read().count("<heap nr="))
"""


def _glibc() -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return False
    return hasattr(libc, "malloc_info") and hasattr(libc, "mallopt")


pytestmark = pytest.mark.skipif(not _glibc(), reason="glibc only (mallopt, malloc_info)")


def _probe(mode: str, **env: str) -> tuple[str, int]:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env=environ, capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    return out[0], int(out[1])


def test_six_threads_share_the_capped_arenas() -> None:
    applied, heaps = _probe("limit")
    assert applied == "True"
    assert heaps <= MALLOC_ARENAS == 2


def test_without_the_cap_each_thread_gets_its_own_arena() -> None:
    """The probe can fail: glibc's default gives each of the six threads an arena (the main one besides)."""
    _, heaps = _probe("none")
    assert heaps > MALLOC_ARENAS


def test_an_operators_malloc_arena_max_is_kept() -> None:
    applied, heaps = _probe("limit", MALLOC_ARENA_MAX="4")
    assert applied == "False"
    assert heaps == 4  # glibc applied the operator's value at start; serve did not lower it
