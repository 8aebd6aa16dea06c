"""``etmi-fhir serve``: the service under gunicorn (migrations run once, before the workers start).

Refuses to start (exit 2, the reason on stderr) with settings ``Settings.check`` rejects, and in
``ETMI_AUTH_MODE=none`` on a non-loopback ``--host`` unless ``ETMI_ALLOW_UNAUTHENTICATED_REMOTE=true``.
Without ``ETMI_PUBLIC_BASE_URL``, links are minted for ``http://HOST:PORT`` on loopback; a non-loopback
``--host`` needs it set.

glibc's malloc gives each thread that allocates its own arena (up to 8 per core) and hands little of a
fragmented arena back to the kernel, so a threaded (gthread) worker's RSS creeps up with the data it has
seen. ``limit_malloc_arenas`` caps the arenas at ``MALLOC_ARENAS`` (2) in the master before gunicorn forks
its workers (they inherit the setting); an operator's own ``MALLOC_ARENA_MAX`` is left as it is. Measured in
``bench/profiles/memory.md`` (``bench/memory_bench.py gunicorn``).

Each worker tunes Python's garbage collector once its app is built (``tune_gc``): the start-up objects (FHIR
definitions, the validator, schemas: about 200k) are frozen out of every later collection, and young
collections run every ``GC_GEN0`` allocations instead of CPython's 700. An episode write allocates and
frees tens of thousands of container objects, so with the default the collector ran 3-4 times per write
(0.7-1.3 ms of a ~16 ms write); with these settings 0.1 ms (``bench/profiles/ingest.md``, Session 20).
Reference cycles are still collected: the thresholds only space the collections out.

A worker's threads also hand the interpreter lock to each other every ``SWITCH_INTERVAL`` (0.5 ms) instead of
CPython's 5 ms: the thread holding the store's SQLite write lock (``service/store/db.py``) no longer waits up to
5 ms for the GIL while a request thread maps or validates, so the lock is held for less wall time.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import dataclasses
import gc
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.config import Settings

HELP = "run the API and FHIR façade with gunicorn (default 127.0.0.1:8000)"
MALLOC_ARENAS = 2  # glibc malloc arenas per process: the 4 threads of a worker share 2 (bench/profiles/memory.md)
M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)
GC_GEN0 = 10_000  # container allocations between young collections in a worker (CPython's default: 700)
SWITCH_INTERVAL = 0.0005  # seconds a worker thread holds the GIL before another may take it (CPython: 0.005)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")


def run(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    from service.commands.definitions import Unavailable, ensure
    from service.config import ConfigError, Settings
    from service.store import open_store

    try:
        settings = _checked(Settings.from_env(), args.host, args.port)
        settings = dataclasses.replace(settings, r4_definitions=ensure())  # fetched on first use
    except (ConfigError, Unavailable) as err:
        print(f"etmi-fhir serve: refusing to start: {err}", file=sys.stderr)
        return 2
    if settings.auto_migrate:
        open_store(settings.database_url, migrate=True).close()
    worker_settings = dataclasses.replace(settings, auto_migrate=False)
    _print_urls(settings.public_base_url)
    limit_malloc_arenas()

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{args.host}:{args.port}", "workers": args.workers, "threads": args.threads,
                "worker_class": "gthread", "accesslog": None, "timeout": 60, "graceful_timeout": 20,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return worker_app(worker_settings)

    Server().run()
    return 0


def worker_app(settings: Settings) -> Any:
    """What each gunicorn worker loads: the app, then the garbage collector tuned for serving (``tune_gc``)."""
    from service.app import create_app

    app = create_app(settings)
    tune_gc()
    sys.setswitchinterval(SWITCH_INTERVAL)
    return app


def tune_gc(gen0: int = GC_GEN0) -> None:
    """Freeze what exists now (collected first, so no garbage is kept) and space young collections ``gen0``
    allocations apart; the older generations keep CPython's ratios."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0, gen1, gen2)


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas of this process (and of the workers it forks) at ``arenas``; ``False`` when
    ``MALLOC_ARENA_MAX`` is set (the operator's choice, applied by glibc at start) or the C library is not glibc."""
    from service.config import malloc_arena_max

    if malloc_arena_max():
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))


def _print_urls(base: str) -> None:
    """What to open, on stderr before gunicorn starts (the demo and people read it)."""
    for path, what in (("/", "landing page"), ("/api/v1/docs", "API docs"), ("/fhir", "FHIR R4 façade")):
        print(f"etmi-fhir serve: {what}: {base.rstrip('/')}{path}", file=sys.stderr, flush=True)


def _checked(settings: Settings, host: str, port: int) -> Settings:
    from service.api.edge import is_loopback
    from service.api.jwks import load_public_jwks
    from service.config import ConfigError

    settings.check()
    load_public_jwks(settings)  # ConfigError for private key members, before any worker starts
    local = host == "localhost" or (bool(host) and is_loopback(host.strip("[]")))
    if settings.auth_mode == "none" and not local and not settings.allow_unauthenticated_remote:
        raise ConfigError(f"ETMI_AUTH_MODE=none serves unauthenticated reads and writes: it binds loopback only, "
                          f"not {host!r} (set ETMI_ALLOW_UNAUTHENTICATED_REMOTE=true to override)")
    if not settings.public_base_url:
        if not local:
            raise ConfigError(f"ETMI_PUBLIC_BASE_URL is required when serving on {host!r}: the scheme://host[:port] "
                              "clients use (links are never built from the Host header)")
        name = f"[{host.strip('[]')}]" if ":" in host else host
        settings = dataclasses.replace(settings, public_base_url=f"http://{name}:{port}")
    return settings
