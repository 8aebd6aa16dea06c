"""What the web app's handlers and the episode use-cases are given, without Flask: ``Context``, built once by
``service/compose.py`` (``create_app`` and the commands). ``service/caller.py`` returns it for a request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.config import Settings
from service.ig import Package
from service.security import TokenVerifier
from service.store import Store

Validate = Callable[[dict[str, Any], str | None], dict[str, Any]]


@dataclass
class Context:
    settings: Settings
    store: Store
    package: Package
    verifier: TokenVerifier | None
    validate: Validate
    public_jwks: dict[str, Any] | None = None
    target_names: tuple[str, ...] = ()  # the sync targets (ETMI_SYNC_TARGETS): one outbox row each
