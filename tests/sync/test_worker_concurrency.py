"""The worker's per-target concurrency (``service/commands/worker.py``, ``Target.concurrency``): the default
thread count, the bounds of the setting, one request slot per ``concurrency`` and one rate budget per target
shared by every thread of a worker process."""

from __future__ import annotations

import argparse
import threading
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest

from service.commands.worker import Loop, Restarts, push_threads
from service.compose import SyncRuntime
from service.sync.ports import FhirServerPort
from service.sync.retry import Backoff, TargetHealth
from service.sync.targets import MAX_CONCURRENCY, Target, TargetConfigError, parse_target


def loop_for(*targets: Target) -> Loop:
    rt = cast(SyncRuntime, SimpleNamespace(targets=list(targets)))
    health = {t.name: TargetHealth(t.name, Backoff(1, 1)) for t in targets}
    return Loop(rt, argparse.Namespace(), threading.Event(), Restarts(1, 1.0), health)


def test_default_threads_are_the_largest_concurrency_of_the_targets() -> None:
    small, big = parse_target("small", {"base_url": "http://a", "concurrency": 2}), Target("big", "http://b")
    assert Target("t", "http://x").concurrency == 4
    assert push_threads(argparse.Namespace(threads=None), [small, big]) == 4
    assert push_threads(argparse.Namespace(threads=None), [small]) == 2
    assert push_threads(argparse.Namespace(threads=1), [small, big]) == 1, "--threads wins"


@pytest.mark.parametrize("value", [0, MAX_CONCURRENCY + 1])
def test_concurrency_is_bounded(value: int) -> None:
    with pytest.raises(TargetConfigError, match="concurrency must be between 1 and 16"):
        parse_target("t", {"base_url": "http://x", "concurrency": value})


class Slow:
    """A stand-in EHR client that records how many of its calls overlap."""

    def __init__(self) -> None:
        self.now, self.most, self.lock = 0, 0, threading.Lock()

    def transaction(self, bundle: Any) -> str:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.05)
        with self.lock:
            self.now -= 1
        return "ok"


@pytest.mark.parametrize("concurrency", [1, 3])
def test_requests_in_flight_never_exceed_the_targets_concurrency(concurrency: int) -> None:
    target = parse_target("t", {"base_url": "http://x", "concurrency": concurrency})
    loop, server = loop_for(target), Slow()
    guarded = [loop.guard(target, cast(FhirServerPort, server)) for _ in range(6)]  # six threads' clients
    threads = [threading.Thread(target=lambda g=g: [g.transaction({}) for _ in range(3)]) for g in guarded]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.most == concurrency


def test_the_rate_limit_is_one_budget_for_every_thread_of_the_worker() -> None:
    """Every push thread's pusher gets its clients from the process's one runtime: one budget per target."""
    target = parse_target("t", {"base_url": "http://x", "rate_limit": 20})
    rt = SyncRuntime(cast(Any, None), [target], cast(Any, None), cast(Any, None))
    clients = [client for _ in range(4) for _, client in rt.clients()]
    assert len({id(c.limiter) for c in clients}) == 1
    started = time.monotonic()
    for c in clients:  # 8 request starts at 20/s through four threads' clients: at least 7 intervals
        c.limiter.wait()
        c.limiter.wait()
    assert time.monotonic() - started >= 7 / 20 - 0.01


def test_search_pages_are_gated_and_all_arrive() -> None:
    target = parse_target("t", {"base_url": "http://x", "concurrency": 1})
    loop = loop_for(target)
    pages = SimpleNamespace(search=lambda _t, _p: iter([{"id": "1"}, {"id": "2"}]))
    gate = loop.gates["t"]
    guarded = loop.guard(target, cast(FhirServerPort, pages))
    results = guarded.search("Goal", {})
    assert next(results) == {"id": "1"} and gate.acquire(blocking=False), "the gate is free between pages"
    gate.release()
    assert list(results) == [{"id": "2"}]


def test_threads_failing_during_a_restart_pause_join_it_without_counting() -> None:
    restarts = Restarts(limit=2, window=60, backoff=Backoff(base=1.0, cap=60.0, rand=lambda: 1.0))
    first = restarts.failure()
    joined = restarts.failure()
    assert first == (1.0, True) and joined[1] is False and 0 < (joined[0] or 0) <= 1.0
    assert len(restarts.times) == 1 and not restarts.exhausted.is_set()
    restarts.resume_at = 0.0  # the pause is over: the next failure is the second restart
    assert restarts.failure() == (2.0, True)
