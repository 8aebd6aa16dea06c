"""Clinician app: a SMART App Launch 2.0 app showing a patient's ETMI course (issue 14).

Rule: the app reads only from the launching EHR with the user's token (through service/adapters);
tokens stay in the server-side session, never in the browser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

LAUNCH_PATH = "/clinician/launch"
PREFIX = "/clinician"

if TYPE_CHECKING:
    from flask import Flask

    from service.config import Settings
    from service.store import Store


def launch_url(base_url: str) -> str:
    """The app's launch URL under a public base URL (for CDS Hooks `smart` links)."""
    return base_url.rstrip("/") + LAUNCH_PATH


def register(app: Flask, settings: Settings, store: Store) -> None:
    """Mount the app under /clinician with the EHRs of ``ETMI_SMART_CLIENTS`` (ConfigError if malformed)."""
    from service.clinician import flow, pages, views
    from service.clinician.registry import Registry, parse_clients
    from service.store.id_key import stored_key

    registry = Registry(parse_clients(settings.smart_clients))
    https = (settings.public_base_url or "").startswith("https://")

    def secret() -> bytes:  # shared by every worker of the deployment
        return settings.id_key.encode() if settings.id_key else stored_key(store)

    app.extensions[pages.EXTENSION] = pages.ClinicianState(registry, secret, store, https)
    for bp in (views.bp, flow.bp):
        app.register_blueprint(bp, url_prefix=PREFIX)
