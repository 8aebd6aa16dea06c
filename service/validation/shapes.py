"""Shape guards for reading JSON that may be malformed (the structural checks report the defect)."""

from __future__ import annotations

from typing import Any


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
