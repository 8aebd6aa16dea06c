"""The web app builds the process-wide validator once, at start, not in the threads of the first requests.

A gunicorn gthread worker answers 4 requests at once: when the validator was built lazily, each of the first
concurrent requests built an engine of its own (the peak RSS of a worker went 140 -> 181 MiB,
bench/profiles/memory.md). Counted here, not timed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from service import validation
from service.app import create_app
from service.synthetic import synthetic_episode
from service.validation import engine as engine_module
from tests.service.conftest import make_settings


@pytest.fixture
def engines_built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many validator engines are constructed (from a process with none)."""
    built = [0]
    original = engine_module.Engine.__init__

    def counting(self: engine_module.Engine, *args: Any, **kwargs: Any) -> None:
        built[0] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(engine_module.Engine, "__init__", counting)
    validation.reset()
    yield built


def test_concurrent_first_requests_share_the_engine_built_at_start(engines_built: list[int], tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'e.db'}"))
    try:
        assert engines_built[0] == 1  # built by create_app
        statuses: list[int] = []
        barrier = threading.Barrier(4)

        def first_request(i: int) -> None:
            body = orjson.dumps(synthetic_episode(i, seed=19))
            client = app.test_client()
            barrier.wait()
            statuses.append(client.post("/api/v1/episodes", data=body, content_type="application/json").status_code)

        threads = [threading.Thread(target=first_request, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == [201] * 4
        assert engines_built[0] == 1  # none built by the requests
    finally:
        app.extensions["etmi"].store.close()


def test_threads_that_need_the_engine_before_it_exists_build_one(engines_built: list[int]) -> None:
    barrier = threading.Barrier(4)
    got: list[validation.Engine] = []

    def first_use() -> None:
        barrier.wait()
        got.append(validation.default_engine())

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(got) == 4 and len({id(e) for e in got}) == 1
    assert engines_built[0] == 1
