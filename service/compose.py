"""The one composition module: what the web app (``create_app``) and the commands build from ``Settings``.

Every process of the service (gunicorn's ``create_app()``, ``etmi-fhir worker``, ``etmi-fhir sync ...``)
gets its validator configuration, store, guide package, sync targets and clients from here, and the sync
runtime gets the episode use-case that applies pulled EHR edits (``service.episodes.remote.RemoteEdits``) in
its constructors, so a command run outside the checkout (as the Docker image runs it:
``ETMI_R4_DEFINITIONS=/app/r4``, cwd ``/app``) sees what the web app sees.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from service import validation
from service.adapters.fhir_client import FhirClient, RateLimiter
from service.adapters.file_state import FileSyncState
from service.adapters.smart_auth import token_provider
from service.api import logs
from service.config import Settings
from service.episodes.remote import RemoteEdits
from service.fhir.validator import validate
from service.ig import Package
from service.store import Store, SyncState
from service.store import open_store as _open_store
from service.sync.clock import SystemClock
from service.sync.ports import FhirServerPort, RemoteEditPort, SyncStatePort
from service.sync.pull import Puller
from service.sync.push import Pusher
from service.sync.retry import Backoff
from service.sync.targets import Target, configured_targets, load_targets
from service.wiring import Context

__all__ = ["SyncRuntime", "clients", "configure_validator", "open_store", "package", "remote_edits", "sync_runtime",
           "targets", "warm_validator"]


def configure_validator(settings: Settings) -> None:
    """The process-wide validator reads R4 core and the guide from the settings' folders (not ``.cache``)."""
    validation.configure(settings.r4_definitions, settings.profiles_dir)


def warm_validator() -> None:
    """Build the process-wide validator now, while the app is built, not inside the first requests (their
    threads would wait for the build; before ``default_engine`` had its lock each built its own: peak RSS
    181 MiB against 140, bench/profiles/memory.md). Missing R4 definitions are left to the first validation to
    report, as before."""
    try:
        validation.default_engine()
    except validation.DefinitionsMissing:
        return


def open_store(settings: Settings, database_url: str | None = None, migrate: bool | None = None) -> Store:
    """The store at ``database_url`` (default ``ETMI_DATABASE_URL``), migrated per ``ETMI_AUTO_MIGRATE``."""
    return _open_store(database_url or settings.database_url,
                       migrate=settings.auto_migrate if migrate is None else migrate)


def package(settings: Settings) -> Package:
    """The ETMI implementation guide package (``ETMI_PROFILES_DIR``)."""
    return Package.load(settings.profiles_dir)


def targets(settings: Settings, targets_file: str | None = None) -> list[Target]:
    """The EHR targets of ``targets_file`` (TOML/JSON), else of ``ETMI_SYNC_TARGETS``."""
    return load_targets(targets_file) if targets_file else configured_targets(settings)


def clients(chosen: list[Target], limiters: dict[str, RateLimiter] | None = None) -> list[tuple[Target, FhirClient]]:
    """One FHIR client per target, with its authentication, timeout and rate limit (``limiters``: one shared
    budget per target name, else each client its own)."""
    shared = limiters or {}
    return [(t, FhirClient(t.base_url, token_provider(t.auth, t.base_url), t.timeout, t.rate_limit,
                           limiter=shared.get(t.name)))
            for t in chosen]


def remote_edits(ctx: Context) -> RemoteEdits:
    """Pulled EHR edits go through the same mapping, validation and store path as an API write."""
    return RemoteEdits(ctx.episodes)


@dataclass
class SyncRuntime:
    """What the sync commands work with: the store, the targets, the sync state (cursors, conflicts) and
    where pulled EHR edits go (the episode use-case, or the file state that does not apply them)."""

    store: Store
    targets: list[Target]
    state: SyncStatePort
    edits: RemoteEditPort
    limiters: dict[str, RateLimiter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """One rate budget per target for every client this runtime builds (all push threads and the pull)."""
        for t in self.targets:
            self.limiters.setdefault(t.name, RateLimiter(t.rate_limit))

    def clients(self) -> list[tuple[Target, FhirClient]]:
        return clients(self.targets, self.limiters)

    def pusher(self, worker_id: str | None = None,
               guard: Callable[[Target, FhirServerPort], FhirServerPort] | None = None,
               backoff: Callable[[Target], Backoff] | None = None) -> Pusher:
        """A pusher for the targets; ``guard`` wraps each target's client (the worker's breakers), ``backoff`` gives
        each target's retry schedule (default: the target's own settings)."""
        wid = worker_id or f"{socket.gethostname()}-{id(self):x}"
        servers: list[tuple[Target, FhirServerPort]] = list(self.clients())
        if guard is not None:
            servers = [(t, guard(t, server)) for t, server in servers]
        return Pusher(self.store.outbox, self.store.id_map, servers, SystemClock(), wid, state=self.state,
                      backoff=backoff)

    def puller(self) -> Puller:
        return Puller(self.store.id_map, self.state, self.clients(), SystemClock(), self.edits)


def sync_runtime(settings: Settings, chosen: list[Target], database_url: str | None = None,
                 state_file: str | None = None) -> SyncRuntime:
    """The sync commands' runtime for the ``chosen`` targets. With the state in the database (no ``state_file`` nor
    ``ETMI_SYNC_STATE_FILE``), pulled EHR edits are applied to the episodes; a state file only keeps
    cursors and conflicts (edits are logged as not applied)."""
    logs.configure(settings.log_level)
    configure_validator(settings)
    store = open_store(settings, database_url, migrate=True)
    state_path = state_file or settings.sync_state_file
    if state_path:
        state = FileSyncState(Path(state_path))
        return SyncRuntime(store, chosen, state, state)
    ctx = Context(settings=settings, store=store, package=package(settings), verifier=None, validate=validate,
                  target_names=tuple(t.name for t in chosen))
    edits = remote_edits(ctx)
    return SyncRuntime(store, chosen, SyncState(store.sessions, edits), edits)
