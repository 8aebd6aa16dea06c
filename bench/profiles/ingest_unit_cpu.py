"""Thread CPU time per part of ``POST /api/v1/episodes``, above all what runs inside the write unit (on SQLite
one writer at a time holds it, so every other writer of every worker waits for this part).

    .venv/bin/python bench/profiles/ingest_unit_cpu.py --episodes 80

In process (Flask test client, fresh SQLite, one sync target), ``--warm`` episodes first, then ``--episodes``
distinct ones; each part is wrapped with ``time.thread_time`` (CPU of the request thread, not wall: the VM's
load does not stretch it much). ``unit: enter`` is BEGIN IMMEDIATE and the writer queue, ``unit: commit`` the
end of the transaction; ``inside the unit`` is enter + ``_store`` + commit. To measure another commit, run a
``git archive`` copy of it with ``PYTHONPATH=<copy>`` (its ``.cache/r4`` linked to this tree's).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

if not os.environ.get("PYTHONPATH"):  # PYTHONPATH=<copy>: the copy's code is measured, not this tree's
    sys.path.insert(1, str(Path(__file__).resolve().parents[2]))


def _timed(spent: dict[str, float], label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.thread_time() - start
    return wrapper


def _instrument(spent: dict[str, float]) -> None:
    from service.episodes import writes
    from service.store import episodes as store

    for name in ("lock", "reply", "add_patient", "put_episode", "save_resources", "enqueue", "audit", "keep_reply"):
        setattr(store.SqlUnit, name, _timed(spent, name, getattr(store.SqlUnit, name)))
    writes.EpisodeWriter._store = _timed(spent, "_store", writes.EpisodeWriter._store)  # type: ignore[method-assign]
    writes.EpisodeWriter.write = _timed(spent, "write", writes.EpisodeWriter.write)  # type: ignore[method-assign]
    for name in ("mapped", "transaction_bundle", "request_hash"):
        setattr(writes, name, _timed(spent, name, getattr(writes, name)))
    if hasattr(store.EpisodeStore, "prepare"):
        store.EpisodeStore.prepare = _timed(spent, "prepare", store.EpisodeStore.prepare)  # type: ignore[method-assign]
    unit = store.EpisodeStore.unit

    @contextmanager
    def timed_unit(self: Any) -> Iterator[Any]:
        start = time.thread_time()
        with unit(self) as opened:
            spent["unit: enter"] = spent.get("unit: enter", 0.0) + time.thread_time() - start
            yield opened
            end = time.thread_time()
        spent["unit: commit"] = spent.get("unit: commit", 0.0) + time.thread_time() - end
    store.EpisodeStore.unit = timed_unit  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=80)
    parser.add_argument("--warm", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="etmi-unit-cpu-") as tmp:
        os.environ.update({
            "ETMI_AUTH_MODE": "none", "ETMI_LOG_LEVEL": "ERROR", "ETMI_DATABASE_URL": f"sqlite:///{tmp}/p.db",
            "ETMI_SYNC_TARGETS": json.dumps({"targets": {"ehr": {"base_url": "http://127.0.0.1:9/fhir"}}}),
        })
        from service.app import create_app
        from tests.sync.support import unique_episode

        spent: dict[str, float] = {}
        _instrument(spent)
        client = create_app().test_client()
        payloads = [orjson.dumps(unique_episode(i, seed=int(time.time()))) for i in range(args.warm + args.episodes)]
        headers = {"Content-Type": "application/json"}
        for i, payload in enumerate(payloads):
            if i == args.warm:
                spent.clear()
                cpu = time.thread_time()
            response = client.post("/api/v1/episodes", data=payload, headers=headers)
            assert response.status_code == 201, response.data[:300]
        total = time.thread_time() - cpu
    n = args.episodes
    inside = spent.get("unit: enter", 0) + spent.get("_store", 0) + spent.get("unit: commit", 0)
    print(f"{n} episodes: {total / n * 1000:.2f} ms thread CPU per request, {inside / n * 1000:.2f} ms inside the unit")
    for label, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {label:<20} {seconds / n * 1000:7.2f} ms")


if __name__ == "__main__":
    main()
