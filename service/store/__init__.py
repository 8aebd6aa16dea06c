"""The store: SQLAlchemy models, repositories, Alembic migrations and the outbox.

``open_store(url)`` gives a ``Store`` whose ``outbox`` and ``id_map`` are what the sync workers use
(the contract is in ``service/store/outbox.py`` and ``docs/folders.md``) and whose ``episodes`` is the
repository of the episode use-cases (``service/episodes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from service.store.audit import AuditTrail
from service.store.db import UNREACHABLE, StoreError, make_engine, migrations_current, session_factory, upgrade
from service.store.episodes import EpisodeStore
from service.store.outbox import IdMap, OutboxEntry, OutboxRepository
from service.store.reader import ResourceReader
from service.store.sync_state import SyncState

__all__ = ["UNREACHABLE", "AuditTrail", "EpisodeStore", "IdMap", "OutboxEntry", "OutboxRepository", "ResourceReader",
           "Store", "StoreError", "SyncState", "open_store"]


@dataclass
class Store:
    engine: Engine
    sessions: sessionmaker[Session] = field(init=False)
    outbox: OutboxRepository = field(init=False)
    id_map: IdMap = field(init=False)
    sync_state: SyncState = field(init=False)
    episodes: EpisodeStore = field(init=False)
    reader: ResourceReader = field(init=False)
    audit_trail: AuditTrail = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine)
        self.outbox = OutboxRepository(self.sessions)
        self.id_map = IdMap(self.sessions)
        self.sync_state = SyncState(self.sessions)  # cursors and conflicts (compose gives the runtime's its edits)
        self.episodes = EpisodeStore(self.sessions)
        self.reader = ResourceReader(self.sessions)  # the /fhir façade's reads
        self.audit_trail = AuditTrail(self.sessions)

    def reachable(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def migrations_current(self) -> bool:
        return migrations_current(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, migrate: bool = True) -> Store:
    """Connect (and by default migrate) the database at a SQLAlchemy URL."""
    engine = make_engine(url)
    if migrate:
        upgrade(engine)
    return Store(engine)
