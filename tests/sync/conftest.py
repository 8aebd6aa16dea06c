"""Fixtures of the sync tests shared with tests/integration (defined in tests/sync/support.py)."""

from __future__ import annotations

from tests.sync.support import pg_store

__all__ = ["pg_store"]
