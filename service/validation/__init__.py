"""The project's FHIR R4 validator (see README.md in this folder).

``validate(resource, profile=None)`` checks a resource dict (or a Bundle) against R4 core and every
profile it claims in ``meta.profile`` (or the one forced) and returns an OperationOutcome dict.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from service.validation.definitions import DefinitionsMissing
from service.validation.engine import Engine
from service.validation.outcome import has_errors

__all__ = ["DefinitionsMissing", "Engine", "configure", "default_engine", "has_errors", "reset", "validate"]

_engine: Engine | None = None
_paths: tuple[Path | None, Path | None] = (None, None)
_building = threading.Lock()  # threads that need the engine before it exists wait for one build, not one each


def configure(r4_definitions: Path | None, profiles: Path | None) -> None:
    """Where the process-wide engine reads R4 core and the ETMI package (``Settings`` gives both)."""
    global _paths
    if _paths != (r4_definitions, profiles):
        _paths = (r4_definitions, profiles)
        reset()


def default_engine() -> Engine:
    """The process-wide engine (definitions from ``configure``, by default ``.cache/r4``)."""
    global _engine
    engine = _engine
    if engine is None:
        with _building:
            if _engine is None:
                _engine = Engine(*_paths)
            engine = _engine
    return engine


def reset() -> None:
    """Forgets the process-wide engine (e.g. after the profiles changed)."""
    global _engine
    _engine = None


def validate(resource: dict[str, Any], profile: str | None = None) -> dict[str, Any]:
    """Validates a resource against base R4 and its profiles; returns an OperationOutcome dict."""
    return default_engine().validate(resource, profile)
