"""Helpers for references and locations: ``urn:uuid`` full URLs of local resources, and where a server
says it put a resource (``Location``/``ETag``)."""

from __future__ import annotations

import uuid

_NS = uuid.UUID("6f1b3c2e-5d1a-4e7b-9a53-0c2d9e1f4a77")


def urn_for(key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, key)}"


def parse_location(location: str | None, etag: str | None = None) -> tuple[str, str, str | None] | None:
    """``(type, id, version)`` from ``[base/]Type/id[/_history/v]``; version falls back to the ETag."""
    if not location:
        return None
    parts = [p for p in location.split("?")[0].split("/") if p]
    version = None
    if "_history" in parts:
        i = len(parts) - 1 - parts[::-1].index("_history")
        version = parts[i + 1] if i + 1 < len(parts) else None
        parts = parts[:i]
    if len(parts) < 2:
        return None
    if version is None and etag:
        version = etag.removeprefix("W/").strip('"') or None
    return parts[-2], parts[-1], version
