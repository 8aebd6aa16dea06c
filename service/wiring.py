"""What the web app's handlers and the episode use-cases are given, without Flask: ``Context``, built once by
``service/compose.py`` (``create_app`` and the commands). ``service/caller.py`` returns it for a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.config import Settings
from service.episodes.model import Deps, Validate
from service.ig import Package
from service.security import TokenVerifier
from service.store import Store
from service.store.id_key import mapping_context

__all__ = ["Context", "Validate"]


@dataclass
class Context:
    settings: Settings
    store: Store
    package: Package
    verifier: TokenVerifier | None
    validate: Validate
    public_jwks: dict[str, Any] | None = None
    target_names: tuple[str, ...] = ()  # the sync targets (ETMI_SYNC_TARGETS): one outbox row each

    @property
    def episodes(self) -> Deps:
        """What the episode use-cases (``service/episodes``) work with: the store's repository, the guide's
        Questionnaires, the validator, the deployment's Patient id key and the sync targets."""
        return Deps(repo=self.store.episodes, questionnaires=self.package.questionnaires, validate=self.validate,
                    mapping=lambda: mapping_context(self.store, self.settings), targets=self.target_names)
