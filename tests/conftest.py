"""Shared fixtures: the real test servers (see tests/servers/README.md) and project paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers.fixtures import hapi_url, medplum_url, postgres_url, smart_url

__all__ = ["hapi_url", "medplum_url", "postgres_url", "smart_url"]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
