"""The secret key of Patient ids, and the mapping context that carries it to the pure mappings.

Patient ids are HMAC-SHA256 of the clinic identifier (``mappings.refs.patient_id``), so an id in a URL
or a log line reveals nothing without the key. The key is ``ETMI_ID_KEY`` when set (at least 32
characters; every process of a deployment must share it). Otherwise the first process makes a random
256-bit key and stores it in the ``id_key`` table (migration 0005); every later process and restart
reads the same key, so the same identifier always gets the same id in that database. A database that
already holds Patients but no key predates keyed ids: the service refuses to guess one.
"""

from __future__ import annotations

import secrets
import weakref

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from mappings.refs import MappingContext
from service.config import Settings
from service.store import Store
from service.store.db import transaction, utcnow
from service.store.models import IdKeyRow, PatientRow

_KEYS: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


class IdKeyMissing(RuntimeError):
    """The database holds Patients made before keyed ids, and no key to go on with."""


def stored_key(store: Store) -> bytes:
    """The key kept by the database, made on first use (one per database, whatever the process)."""
    cached = _KEYS.get(store.engine)
    if cached is not None:
        return cached
    with store.sessions() as session:
        row = session.get(IdKeyRow, 1)
        key = row.key if row is not None else None
    if key is None:
        key = _create(store)
    _KEYS[store.engine] = key.encode()
    return key.encode()


def _create(store: Store) -> str:
    try:
        with transaction(store.sessions) as session:
            row = session.get(IdKeyRow, 1)
            if row is not None:
                return row.key
            if session.scalar(select(func.count()).select_from(PatientRow)):
                raise IdKeyMissing("the database holds Patients from before keyed Patient ids (migration 0005) "
                                   "and has no id key: re-create the database, or keep it on the older release")
            key = secrets.token_hex(32)
            session.add(IdKeyRow(id=1, key=key, created_at=utcnow()))
            return key
    except IntegrityError:  # another process made it first
        with store.sessions() as session:
            row = session.get(IdKeyRow, 1)
            assert row is not None
            return row.key


def mapping_context(store: Store, settings: Settings) -> MappingContext:
    """The context every mapping of this deployment runs with: ``ETMI_ID_KEY``, else the stored key."""
    if settings.id_key:
        return MappingContext(settings.id_key.encode())
    return MappingContext(stored_key(store))
