"""Wake idle sync workers when an outbox row is committed, instead of letting them sleep out ``--idle``.

- PostgreSQL: ``notify`` runs ``pg_notify('etmi_outbox', '')`` in the transaction that writes the outbox rows
  (``outbox.enqueue``, ``replay``), so the notification is delivered on commit only, never for a rolled-back
  write. A worker LISTENs on a connection of its own (outside the pool); when that connection drops it wakes
  a thread (a claim catches anything missed), waits with a growing pause and connects again, and until then
  its threads poll every ``--idle`` seconds as they always did.
- SQLite: no notifications across processes, so a dedicated connection reads ``PRAGMA data_version`` every
  ``interval`` (0.1 s): its value changes only when another connection has committed to the database. Then the
  largest outbox id (the primary key's last entry) says whether the commit added outbox rows; only then does a
  thread wake to claim. An unchanged value costs one pragma (no disk read, no lock). ``replay`` adds no row: it
  is claimed within ``--idle`` on SQLite.

Either way a waiting thread also wakes after ``--idle`` seconds (retries whose backoff ran out, expired
leases, a watcher that is down) and at shutdown. A wake-up is a hint: the claim decides what is due.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from service.store.models import OutboxRow

CHANNEL = "etmi_outbox"
APPLICATION_NAME = "etmi-outbox-wakeup"  # the listener's name in pg_stat_activity
INTERVAL = 0.1  # seconds between two SQLite checks
LISTEN_TICK = 0.5  # seconds: how often the PostgreSQL listener looks at the stop flag between notifications
RECONNECT_CAP = 30.0  # seconds: the longest pause between two attempts to LISTEN again
log = logging.getLogger("etmi.sync.wakeup")


def notify(session: Session) -> None:
    """In the caller's transaction: wake the workers when it commits (PostgreSQL; nothing on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class Wakeup:
    """Wake-ups handed to waiting threads one each, like a semaphore: a commit wakes one waiting thread (its claim
    takes every due row up to the batch size), and one that comes while no thread waits is kept for the next wait
    (at most ``cap`` are kept), so a commit during a claim is never missed."""

    def __init__(self, cap: int = 16) -> None:
        self._cond = threading.Condition()
        self._tokens, self._cap = 0, cap
        self._closed = False

    def wake(self) -> None:
        with self._cond:
            self._tokens = min(self._tokens + 1, self._cap)
            self._cond.notify()

    def close(self) -> None:
        """Release every waiting thread now and from now on (shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """Until a wake-up (taken), ``close`` or ``timeout``: True unless it timed out."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed or self._tokens > 0, timeout):
                return False
            if not self._closed:
                self._tokens -= 1
            return True


def watch(engine: Engine, wakeup: Wakeup, stop: threading.Event, interval: float = INTERVAL) -> threading.Thread | None:
    """Start the watcher of ``engine``'s database (a daemon thread that ends with ``stop``); None when there is
    nothing to watch (an in-memory SQLite database): the threads then only poll every ``--idle``."""
    if engine.dialect.name == "postgresql":
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        body: Any = _listen
        params: tuple[Any, ...] = (cargs, cparams, wakeup, stop)
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        body, params = _data_version, (engine.url.database, wakeup, stop, interval)
    else:
        return None
    thread = threading.Thread(target=body, args=params, name="etmi-outbox-wakeup", daemon=True)
    thread.start()
    return thread


def _data_version(path: str, wakeup: Wakeup, stop: threading.Event, interval: float) -> None:
    conn: sqlite3.Connection | None = None
    version: int | None = None
    newest: int | None = None  # the largest outbox id seen: a commit that adds none (an audit row) wakes nobody
    try:
        while not stop.wait(interval):
            try:
                if conn is None:
                    conn = sqlite3.connect(path, timeout=1, isolation_level=None, check_same_thread=False)
                    version = None  # a new connection's values are not comparable with the old one's
                now = int(conn.execute("PRAGMA data_version").fetchone()[0])
                if now != version:
                    version, before = now, newest
                    newest = conn.execute(f"SELECT max(id) FROM {OutboxRow.__tablename__}").fetchone()[0]
                    if newest != before:
                        wakeup.wake()
            except Exception:  # sqlite3.Error above all; the watcher must outlive any of them (else: --idle polling)
                log.warning("sync.wakeup.sqlite_check_failed", exc_info=True)
                if conn is not None:
                    conn.close()
                conn = None
                stop.wait(1.0)
    finally:
        if conn is not None:
            conn.close()


def _listen(cargs: list[Any], cparams: dict[str, Any], wakeup: Wakeup, stop: threading.Event) -> None:
    import psycopg  # only with PostgreSQL

    # a connection that dies silently (no FIN: a network cut) is found by TCP keepalives within about a minute
    options = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
               "connect_timeout": 10, "application_name": APPLICATION_NAME, **cparams, "autocommit": True}
    pause = 1.0
    while not stop.is_set():
        try:
            with psycopg.connect(*cargs, **options) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                log.info("sync.wakeup.listening", extra={"channel": CHANNEL})
                wakeup.wake()  # rows committed before the LISTEN (or while the connection was down)
                pause = 1.0
                while not stop.is_set():
                    for _note in conn.notifies(timeout=LISTEN_TICK, stop_after=1):
                        wakeup.wake()
        except Exception:  # psycopg.Error above all; the listener must outlive any of them (else: --idle polling)
            log.warning("sync.wakeup.listen_lost", extra={"retry_s": pause}, exc_info=True)
            wakeup.wake()
            stop.wait(pause)
            pause = min(pause * 2, RECONNECT_CAP)
