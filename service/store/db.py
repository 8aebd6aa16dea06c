"""Engine, sessions and migrations. SQLite by default, PostgreSQL when the URL says so.

On SQLite every transaction starts with ``BEGIN IMMEDIATE``: one writer at a time, no lock
upgrades that end in ``database is locked``; WAL lets readers run beside the writer.

WAL checkpoints (copying the WAL's pages into the database file, with two fsyncs) do not run inside a
writer's commit, where every queued writer would wait for them: after every ``CHECKPOINT_EVERY``-th write
transaction of a process, once its write lock is released, the process's checkpoint thread runs a PASSIVE
checkpoint (one at a time per process; it waits for no reader or writer). SQLite's own autocheckpoint stays as a
backstop at ``BACKSTOP_PAGES``. The bound: the WAL holds at most ``BACKSTOP_PAGES`` plus the pages committed
while one checkpoint after the lock runs (the backstop's checkpoint is skipped as busy then, and tried again at
each commit). Written with pauses, the WAL restarts from its beginning after each checkpoint and stays near
``CHECKPOINT_EVERY`` transactions; under a steady stream of writers it rarely finds that moment, grows to the
backstop, whose checkpoint under the lock has only the pages since the last checkpoint to copy.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, create_engine, event, exc, insert
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("etmi.store")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
WRITE = "etmi_write"  # execution option: this transaction writes
CHECKPOINT_EVERY = 8  # write transactions of a process between two of its checkpoints (about 50 pages each)
BACKSTOP_PAGES = 4000  # SQLite's autocheckpoint, inside a commit: 16 MB of WAL with 4 KB pages
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, _WriterQueue] = weakref.WeakKeyDictionary()


#: Any failure of the database; and those that mean it cannot be reached now (down, a dropped connection,
#: a pool timeout): the web app answers them 503 with Retry-After, not 500 (``service.api.metrics``).
StoreError = exc.SQLAlchemyError
UNREACHABLE: tuple[type[Exception], ...] = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError,
                                            exc.DisconnectionError)


def utcnow() -> datetime:
    """Naive UTC, the form every timestamp column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str) -> Engine:
    """An engine whose JSON columns are (de)serialised with orjson."""
    json_options: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **json_options)
        _sqlite_pragmas(engine)
        _WRITE_LOCKS[engine] = _WriterQueue(engine.url.database or "")
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, **json_options)


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(BACKSTOP_PAGES)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # writers take the write lock up front (no lock upgrade that fails with "database is locked")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")


def table(model: Any) -> Table:
    """A mapped class's table, for Core statements on a session's connection (``session.connection().execute``):
    no ORM unit of work or bulk bookkeeping, which cost more than the statements on the write path."""
    return cast(Table, model.__table__)


#: (table, columns) -> the INSERT's SQL, its columns in parameter order and their bind processors (SQLite)
_INSERT_PLANS: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...], list[Any]]] = {}


def insert_rows(conn: Connection, target: Table, rows: Sequence[dict[str, Any]]) -> None:
    """``conn.execute(insert(target), rows)`` (all rows with the keys of the first). On SQLite, inside the write
    lock, without SQLAlchemy's per-row parameter handling: each value goes through its column type's own bind
    processor (the stored values are the same) and the rows to the driver's ``executemany`` as tuples."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(target), rows)
        return
    keys = tuple(rows[0])
    plan = _INSERT_PLANS.get((target.name, keys))
    if plan is None:
        compiled = insert(target).compile(dialect=conn.dialect, column_keys=list(keys))
        order = tuple(compiled.positiontup or ())
        if sorted(order) != sorted(keys):  # a column default SQLAlchemy fills in: its own path
            conn.execute(insert(target), rows)
            return
        types = [target.c[key].type.dialect_impl(conn.dialect) for key in order]
        plan = _INSERT_PLANS.setdefault((target.name, keys), (str(compiled), order, [
            kind.bind_processor(conn.dialect) for kind in types]))
    sql, order, processors = plan
    pairs = list(zip(order, processors, strict=True))
    conn.exec_driver_sql(sql, [tuple(process(row[key]) if process else row[key] for key, process in pairs)
                               for row in rows])


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work that writes: commit on success, roll back on any exception.

    On SQLite it holds the write lock from the start, and threads of one process queue on a Python
    lock first (fair, no busy-polling); plain ``factory()`` sessions are readers.
    """
    bind = factory.kw.get("bind")
    lock = _WRITE_LOCKS.get(bind) if bind is not None else None
    with lock or nullcontext(), factory() as session, session.begin():
        session.connection(execution_options={WRITE: True})
        yield session


class _WriterQueue:
    """SQLite writers queue here: threads on a lock, processes on ``flock`` of a file beside the
    database (the kernel queues waiters; SQLite's busy handler would poll with growing sleeps).

    It also starts the WAL checkpoints (module docstring), after the lock is released."""

    def __init__(self, database: str) -> None:
        self._thread_lock = threading.Lock()
        self._database = database if database and database != ":memory:" else ""
        self._path = f"{database}.writelock" if self._database else ""
        self._fd: int | None = None
        self._writes = 0  # write transactions since this process's last checkpoint (under the thread lock)
        self._checkpointing = threading.Lock()  # held by the running checkpoint thread

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        if self._path:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._writes += 1
        start = (self._writes >= CHECKPOINT_EVERY and bool(self._database)
                 and self._checkpointing.acquire(blocking=False))  # none asked for or running in this process
        if start:
            self._writes = 0
        self._thread_lock.release()
        if start:
            _CHECKPOINTER.ask(self)

    def _checkpoint(self) -> None:
        """On the checkpoint thread: a PASSIVE checkpoint on a connection of its own."""
        try:
            connection = sqlite3.connect(f"file:{quote(self._database)}?mode=rw", timeout=1, isolation_level=None,
                                         uri=True)  # never creates a file: a database removed since is skipped
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                connection.close()
        except sqlite3.Error as err:  # busy, or the database went away: the next one (or the backstop) catches up
            log.debug("WAL checkpoint skipped: %s", type(err).__name__)
        finally:
            self._checkpointing.release()

    def settle(self, timeout: float = 30) -> None:
        """Wait until no checkpoint this queue asked for is pending or running (tests)."""
        if self._checkpointing.acquire(timeout=timeout):
            self._checkpointing.release()

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


class _Checkpointer:
    """One daemon thread per process runs the checkpoints that writer queues ask for, one after the other:
    asking costs the writer a put on a queue (starting a thread per checkpoint waited for the thread to run)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._pid = 0  # the process whose thread serves ``_asked`` (a forked child starts its own)
        self._asked: queue.SimpleQueue[_WriterQueue] = queue.SimpleQueue()

    def ask(self, writers: _WriterQueue) -> None:
        if self._pid != os.getpid():
            with self._guard:
                if self._pid != os.getpid():
                    self._asked = queue.SimpleQueue()
                    threading.Thread(target=self._serve, args=(self._asked,), name="etmi-wal-checkpoint",
                                     daemon=True).start()
                    self._pid = os.getpid()
        self._asked.put(writers)

    @staticmethod
    def _serve(asked: queue.SimpleQueue[_WriterQueue]) -> None:
        while True:
            asked.get()._checkpoint()


_CHECKPOINTER = _Checkpointer()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    command.upgrade(alembic_config(engine), "head")


def migrations_current(engine: Engine) -> bool:
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == heads
