"""``etmi-fhir worker`` as its own process for the fault tests, and its ``/metrics`` read over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(port: int) -> Samples:
    """The worker's samples; empty while it does not answer (starting, or gone)."""
    try:
        return parse(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
    except requests.ConnectionError:
        return {}


@contextmanager
def worker(tmp_path: Path, database: str, targets: Mapping[str, Mapping[str, Any]], port: int,
           extra: Sequence[str] = ()) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process on ``targets`` (name → target table) with ``--metrics-port port``; stopped with
    SIGTERM (or already exited) when the block ends. Its log is ``tmp_path/worker.log``."""
    path = tmp_path / "targets.json"
    path.write_text(json.dumps({"targets": targets}))
    command = [sys.executable, "-m", "service.cli", "worker", "--targets", str(path), "--database-url", database,
               "--pull-every", "0", "--idle", "0.2", "--metrics-port", str(port), *extra]
    with (tmp_path / "worker.log").open("wb") as log:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log,
                                env={**os.environ, "ETMI_SYNC_TARGETS": ""})
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def log_tail(tmp_path: Path, chars: int = 3000) -> str:
    return (tmp_path / "worker.log").read_text(errors="replace")[-chars:]


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 120) -> None:
    """Poll ``condition`` every 0.2 s until it holds; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what}")
