"""Shape guards for reading JSON that may be malformed (the structural checks report the defect)."""

from __future__ import annotations

from typing import Any

import orjson


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


def dump_json(value: Any) -> str:
    """A value as JSON for a message (its repr if it is not JSON)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)
