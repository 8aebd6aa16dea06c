"""The oracle: HAPI's instance validator judges every resource the mappings produce.

Each resource is sent to ``$validate`` on the HAPI server (the ETMI package is installed there), with
the profile it claims; any issue of severity error or fatal fails the test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.contract.test_golden_conformance import RESOURCES

FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def hapi_validate(base: str, resource: dict[str, Any]) -> list[dict[str, Any]]:
    profile = resource.get("meta", {}).get("profile", [None])[0]
    url = f"{base}/{resource['resourceType']}/$validate" + (f"?profile={profile}" if profile else "")
    response = requests.post(url, data=json.dumps(resource), headers=FHIR_JSON, timeout=120)
    outcome: dict[str, Any] = response.json()
    assert outcome.get("resourceType") == "OperationOutcome", response.text[:500]
    return [i for i in outcome.get("issue", []) if i.get("severity") in ("error", "fatal")]


@pytest.mark.hapi
@pytest.mark.parametrize("resource", [r for _, r in RESOURCES], ids=[name for name, _ in RESOURCES])
def test_hapi_accepts_mapped_resource(hapi_url: str, resource: dict[str, Any]) -> None:
    errors = hapi_validate(hapi_url, resource)
    assert not errors, json.dumps(errors, indent=1)
