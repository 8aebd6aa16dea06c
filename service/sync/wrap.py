"""A FHIR client wrapped so that every call goes through one method: the breaker (``retry.py``), the lease beat
(``push.py``) and the worker's concurrency gate (``service/commands/worker.py``) are each a ``CallWrapper``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class CallWrapper:
    """Forwards attribute reads to ``inner``; its methods are called through ``around``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.around(attr, args, kwargs)
        return call

    def around(self, method: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """One call of ``inner``'s ``method`` (override; this one just calls it)."""
        return method(*args, **kwargs)
