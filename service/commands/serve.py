"""``etmi-fhir serve``: the service under gunicorn (migrations run once, before the workers start)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

HELP = "run the API and FHIR façade with gunicorn (default 127.0.0.1:8000)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")


def run(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    from service.app import create_app
    from service.config import Settings
    from service.store import open_store

    settings = Settings.from_env()
    if settings.auto_migrate:
        open_store(settings.database_url, migrate=True).close()
    worker_settings = dataclasses.replace(settings, auto_migrate=False)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{args.host}:{args.port}", "workers": args.workers, "threads": args.threads,
                "worker_class": "gthread", "accesslog": None, "timeout": 60, "graceful_timeout": 20,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return create_app(worker_settings)

    Server().run()
    return 0
