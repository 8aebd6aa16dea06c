"""Fixtures of the sync tests: each real FHIR server (HAPI, a module-private Medplum) as an EHR target."""

from __future__ import annotations

import pytest

from service.sync.targets import Target
from tests.sync.support import ehr_url, pg_store, private_medplum, target_for

__all__ = ["ehr", "ehr_url", "pg_store", "private_medplum"]


@pytest.fixture
def ehr(ehr_url: tuple[str, str]) -> Target:
    """The EHR target of one test, once per server."""
    return target_for(ehr_url[1], ehr_url[0])
