"""Read-only access to the stored FHIR resources for the ``/fhir`` façade (``Store.reader``): read, vread,
history and search (with ``_include``) each in one read session, so the façade handles no session or table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from service.store import resources


class StoredResource(Protocol):
    """One stored version of a FHIR resource, with the patient it belongs to."""

    @property
    def resource_type(self) -> str: ...
    @property
    def resource_id(self) -> str: ...
    @property
    def version_id(self) -> int: ...
    @property
    def patient_id(self) -> str | None: ...
    @property
    def resource(self) -> dict[str, Any]: ...
    @property
    def last_updated(self) -> datetime: ...


Keep = Callable[[StoredResource], bool]
Wanted = Callable[[list[StoredResource]], Mapping[str, list[str]]]


class ResourceReader:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def read(self, rtype: str, rid: str, version: int | None = None) -> StoredResource | None:
        """The current version (or ``version``) of ``rtype/rid``."""
        with self._sessions() as session:
            return resources.read(session, rtype, rid, version)

    def history(self, rtype: str, rid: str) -> list[StoredResource]:
        with self._sessions() as session:
            return list[StoredResource](resources.history(session, rtype, rid))

    def search(self, query: resources.SearchQuery, keep: Keep,
               wanted: Wanted) -> tuple[int, list[StoredResource], list[StoredResource]]:
        """The total, the matches ``keep`` lets through, and the current versions of what ``wanted`` names
        among them (``_include``), read together."""
        with self._sessions() as session:
            total, rows = resources.search(session, query)
            kept = [r for r in list[StoredResource](rows) if keep(r)]
            included: list[StoredResource] = []
            for rtype, ids in wanted(kept).items():
                included += resources.current_many(session, rtype, ids)
        return total, kept, included
