"""Instructions per ``POST /api/v1/episodes`` in process, for valgrind (deterministic, whatever the VM's load):
run it with ``n`` = 0 and ``n`` = N and divide the difference by N. The summary is in ``bench/profiles/ingest.md``
(Session 20).

    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        .venv/bin/python bench/profiles/request_instructions.py --mode around 100

``--mode full``: the whole request (fresh SQLite, one sync target); ``around``: the request around the write
(``EpisodeWriter.write`` answers a canned result: transport, guard, schema, hooks, response); ``bare``: a bare
Flask endpoint that parses the body and answers the same JSON. Five warm-up requests first; the payloads
(``service.synthetic``) are made for ``--payloads`` episodes whatever ``n`` is, so only the requests differ.
To measure another commit, run a ``git archive`` copy with ``PYTHONPATH=<copy>`` (``.cache`` linked in).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

if not os.environ.get("PYTHONPATH"):  # PYTHONPATH=<copy>: the copy's code is measured, not this tree's
    sys.path.insert(1, str(Path(__file__).resolve().parents[2]))
WARM = 5
BODY: dict[str, Any] = {
    "episode_id": "x", "version": 1, "patient_id": "p", "outcome": "created", "outbox_id": 1, "outbox_ids": [1],
    "resources": [{"reference": f"Observation/{i}", "version": 1, "changed": True} for i in range(34)]}


def _app(mode: str) -> Any:
    if mode == "bare":
        from flask import Flask, Response, request

        bare = Flask("bare")

        @bare.post("/api/v1/episodes")
        def post() -> Response:
            request.get_json()
            return Response(orjson.dumps(BODY), 201, mimetype="application/json")
        return bare
    from service.app import create_app

    if mode == "around":
        from service.episodes.model import WriteResult
        from service.episodes.writes import EpisodeWriter

        def canned(_self: Any, _payload: Any, _mode: Any, _caller: Any, _raw: Any = None) -> WriteResult:
            return WriteResult(201, dict(BODY), "/api/v1/episodes/x", {"ETag": 'W/"1"'})
        EpisodeWriter.write = canned  # type: ignore[method-assign,assignment]
    return create_app()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="requests after the warm-up")
    parser.add_argument("--mode", choices=("full", "around", "bare"), default="full")
    parser.add_argument("--payloads", type=int, default=105, help="episodes made whatever n is (>= n + 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="etmi-instructions-") as tmp:
        os.environ.update({
            "ETMI_AUTH_MODE": "none", "ETMI_LOG_LEVEL": "WARNING", "ETMI_DATABASE_URL": f"sqlite:///{tmp}/p.db",
            "ETMI_SYNC_TARGETS": json.dumps({"targets": {"ehr": {"base_url": "http://127.0.0.1:9/fhir"}}}),
        })
        from service.synthetic import synthetic_episode

        client = _app(args.mode).test_client()
        payloads = [orjson.dumps(synthetic_episode(i, seed=7)) for i in range(args.payloads)]
        for payload in payloads[:WARM + args.n]:
            response = client.post("/api/v1/episodes", data=payload, headers={"Content-Type": "application/json"})
            assert response.status_code == 201, response.data[:300]
    print(f"{args.n} requests after {WARM} ({args.mode}); service from {Path(sys.modules['service'].__file__ or '')}")


if __name__ == "__main__":
    main()
