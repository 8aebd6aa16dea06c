"""Which SQL statements of an episode write get slower as the store grows (in process, no HTTP server).

    .venv/bin/python bench/sql_probe.py --episodes 40 300

For each count N: a fresh SQLite store (one sync target named, so each write queues its outbox row), N
distinct episodes POSTed through the Flask test client, then the statements of the last 30 episodes timed
(SQLAlchemy cursor events) and the slowest printed as ms per episode, with the CPU time per episode of those
30. A statement whose cost grows with N is what makes the ingest path worse than linear (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LAST = 30


def probe(episodes: int) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from tests.sync.support import unique_episode

    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    timing = [False]

    @event.listens_for(Engine, "before_cursor_execute")
    def before(conn: Any, *_: Any) -> None:
        conn.info["etmi_probe_t"] = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if timing[0]:
            entry = stats[" ".join(statement.split())[:150]]
            entry[0] += 1
            entry[1] += time.perf_counter() - conn.info["etmi_probe_t"]

    with tempfile.TemporaryDirectory(prefix="etmi-sql-probe-") as tmp:
        os.environ.update({
            "ETMI_AUTH_MODE": "none", "ETMI_LOG_LEVEL": "ERROR", "ETMI_DATABASE_URL": f"sqlite:///{tmp}/probe.db",
            "ETMI_SYNC_TARGETS": json.dumps({"targets": {"ehr": {"base_url": "http://127.0.0.1:9/fhir"}}}),
        })
        from service.app import create_app

        client = create_app().test_client()
        payloads = [orjson.dumps(unique_episode(i, seed=7)) for i in range(episodes)]
        cpu = 0.0
        for i, payload in enumerate(payloads):
            timing[0] = i >= episodes - LAST
            start = time.process_time()
            response = client.post("/api/v1/episodes", data=payload, headers={"Content-Type": "application/json"})
            cpu += (time.process_time() - start) if timing[0] else 0.0
            assert response.status_code == 201, response.data[:300]
    event.remove(Engine, "before_cursor_execute", before)
    event.remove(Engine, "after_cursor_execute", after)
    print(f"after {episodes} episodes: {cpu / LAST * 1000:.1f} ms CPU per episode (last {LAST})")
    for statement, (calls, seconds) in sorted(stats.items(), key=lambda kv: -kv[1][1])[:5]:
        print(f"  {seconds / LAST * 1000:7.1f} ms/episode {int(calls):4} calls  {statement}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, nargs="+", default=[40, 300])
    for n in parser.parse_args().episodes:
        probe(max(n, LAST))


if __name__ == "__main__":
    main()
