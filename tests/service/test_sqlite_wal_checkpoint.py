"""SQLite's WAL checkpoints run outside the write lock, and the WAL stays bounded (``service/store/db.py``).

A checkpoint copies WAL pages into the database file and records how far it got in the WAL index (the ``-shm``
file: ``nBackfill`` and ``nBackfillAttempted`` of its checkpoint-info block, https://www.sqlite.org/walformat.html).
While a writer holds the write lock those counters must not move, except to 0 when the WAL restarts from its
beginning (which the writer itself does at BEGIN). Not timed: the tests read the counters and the WAL's size.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from service.store import Store, db, open_store

BLOB = 100_000  # bytes per write transaction: about 25 pages of 4 KB
FRAME = 4096 + 24  # a WAL frame: page and header
CKPT_INFO = 96  # the WAL index's checkpoint-info block: nBackfill (u32), 5 read marks, 8 lock bytes, nBackfillAttempted


def _backfill(database: Path) -> tuple[int, int]:
    with open(f"{database}-shm", "rb") as shm:
        shm.seek(CKPT_INFO)
        block = shm.read(36)
    nbackfill, attempted = struct.unpack_from("=I", block, 0)[0], struct.unpack_from("=I", block, 32)[0]
    return nbackfill, attempted


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, Path]]:
    database = tmp_path / "wal.db"
    store = open_store(f"sqlite:///{database}")
    _scratch(store)
    yield store, database
    store.close()


def _scratch(store: Store) -> None:
    """A table to write to, and an empty WAL to start from (the migrations' pages checkpointed)."""
    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, body BLOB)"))
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _write(store: Store) -> None:
    with db.transaction(store.sessions) as session:
        session.execute(text("INSERT INTO scratch (body) VALUES (:body)"), {"body": os.urandom(BLOB)})


def _wait_for_checkpoint(store: Store) -> None:
    """Let a checkpoint started by the last write end before the next write takes the lock."""
    writers = db._WRITE_LOCKS[store.engine]
    if hasattr(writers, "settle"):  # not on the code before the change: no checkpoint to wait for
        writers.settle()


def test_no_checkpoint_runs_while_the_write_lock_is_held(sqlite_store: tuple[Store, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store, database = sqlite_store
    held: list[tuple[tuple[int, int], tuple[int, int]]] = []
    enter, leave = db._WriterQueue.__enter__, db._WriterQueue.__exit__

    def watched_enter(self: Any) -> None:
        enter(self)
        held.append((_backfill(database), (-1, -1)))

    def watched_exit(self: Any, *exc: object) -> None:
        held[-1] = (held[-1][0], _backfill(database))
        leave(self, *exc)

    monkeypatch.setattr(db._WriterQueue, "__enter__", watched_enter)
    monkeypatch.setattr(db._WriterQueue, "__exit__", watched_exit)
    for _ in range(60):  # 1,500 pages: more than SQLite's default autocheckpoint (1,000 pages)
        _write(store)
        _wait_for_checkpoint(store)
    moved = [(before, after) for before, after in held if after not in (before, (0, 0))]
    assert not moved, f"{len(moved)} of {len(held)} writes checkpointed under the lock: {moved[:3]}"
    assert sum(before[0] > 0 for before, _ in held) >= 5, "the checkpoints after the lock did not run"


def test_the_wal_stays_bounded_by_the_checkpoints_after_the_lock(sqlite_store: tuple[Store, Path]) -> None:
    """Written one after another, the WAL restarts after each checkpoint: it never holds more than the writes
    between two checkpoints (and one more), far below SQLite's autocheckpoint and the backstop."""
    store, database = sqlite_store
    every = getattr(db, "CHECKPOINT_EVERY", 8)
    for _ in range(60):
        _write(store)
        _wait_for_checkpoint(store)
    pages = (BLOB // 4096 + 4) * (every + 1)
    assert os.path.getsize(f"{database}-wal") <= 32 + pages * FRAME, os.path.getsize(f"{database}-wal")


def test_under_concurrent_writers_the_backstop_bounds_the_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four threads writing without a pause: the WAL may find no moment to restart, and grows up to the backstop
    (SQLite's autocheckpoint, set on each connection), plus what is committed while a checkpoint after the lock
    runs (the backstop's own is then skipped as busy, and tried again at the next commit). 80 writes of ~26 pages:
    2,000 pages without any checkpoint, about 1,000 with SQLite's default autocheckpoint alone."""
    monkeypatch.setattr(db, "BACKSTOP_PAGES", 400, raising=False)
    during = {"running": 0, "commits": 0, "most": 0}
    checkpoint, leave = getattr(db._WriterQueue, "_checkpoint", None), db._WriterQueue.__exit__

    def watched_checkpoint(self: Any) -> None:
        during.update(running=1, commits=0)
        try:
            checkpoint(self)  # type: ignore[misc]
        finally:
            during.update(running=0, most=max(during["most"], during["commits"]))

    def watched_exit(self: Any, *exc: object) -> None:
        during["commits"] += during["running"]
        leave(self, *exc)

    monkeypatch.setattr(db._WriterQueue, "_checkpoint", watched_checkpoint, raising=False)
    monkeypatch.setattr(db._WriterQueue, "__exit__", watched_exit)
    database = tmp_path / "busy.db"
    store = open_store(f"sqlite:///{database}")
    try:
        _scratch(store)
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                for _ in range(20):
                    _write(store)
            except BaseException as err:  # reported below
                errors.append(err)

        threads = [threading.Thread(target=writer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _wait_for_checkpoint(store)
        assert not errors, errors
        with store.sessions() as session:
            assert session.scalar(text("SELECT count(*) FROM scratch")) == 80
        bound = 400 + (during["most"] + 2) * (BLOB // 4096 + 2)
        assert os.path.getsize(f"{database}-wal") <= 32 + bound * FRAME, during
    finally:
        store.close()


def test_a_checkpoint_for_a_removed_database_creates_no_file(tmp_path: Path) -> None:
    writers = db._WriterQueue(str(tmp_path / "gone.db"))
    for _ in range(getattr(db, "CHECKPOINT_EVERY", 8)):  # as many writes as ask for a checkpoint
        writers.__enter__()
        writers.__exit__(None, None, None)
    writers.settle()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gone.db.writelock"]
