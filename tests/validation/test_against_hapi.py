"""The validator against HAPI FHIR's $validate (the HL7 validation engine), the authority.

- Every resource this validator accepts (the HAPI-style fixtures, the project's examples) must be
  accepted by HAPI too: the service must never send an EHR something HAPI would reject.
- Every single-defect mutation this validator rejects is sent to HAPI as well; the cases HAPI accepts
  are listed (this validator is stricter there) and must stay within the documented set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from service.validation import Engine
from tests.validation import fixtures
from tests.validation.test_mutations import CASES

pytestmark = pytest.mark.hapi
ROOT = Path(__file__).resolve().parents[2]
#: Mutations this validator rejects and HAPI 8.8's $validate accepts (see service/validation/README.md):
#: reference target types of unresolved references (HAPI checks them only when it resolves the target)
#: and unknown codes of the project's CodeSystems (HAPI: warning "Unable to validate code").
STRICTER_THAN_HAPI = {
    "obs-subject-target",
    "obs-subject-r4b-only-target",
    "goal-expressedby-target",
    "careplan-goal-target",
    "condition-subject-target",
    "procedure-local-code",
}


def hapi_errors(base: str, resource: dict[str, Any], endpoint: str | None = None) -> list[str]:
    response = requests.post(
        f"{base}/{endpoint or resource['resourceType']}/$validate",
        data=orjson.dumps(resource),
        headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
        timeout=120,
    )
    if response.status_code in (400, 404, 422):
        return [response.text[:300]]
    response.raise_for_status()
    return [
        f"{i.get('expression') or i.get('location')}: {i.get('diagnostics')}"
        for i in response.json().get("issue", [])
        if i.get("severity") in ("error", "fatal")
    ]


@pytest.fixture(scope="module")
def hapi(hapi_url: str) -> str:
    questionnaire = fixtures.questionnaire()
    response = requests.put(
        f"{hapi_url}/Questionnaire/{questionnaire['id']}",
        data=orjson.dumps(questionnaire),
        headers={"Content-Type": "application/fhir+json"},
        timeout=120,
    )
    assert response.status_code in (200, 201), response.text
    return hapi_url


@pytest.mark.parametrize("name", [*fixtures.BUILDERS, "Bundle"])
def test_fixtures_accepted_by_both(engine: Engine, hapi: str, name: str) -> None:
    resource = fixtures.fresh(name)
    assert [i for i in engine.validate(resource)["issue"] if i["severity"] == "error"] == []
    assert hapi_errors(hapi, resource) == []


@pytest.mark.parametrize(
    "path", sorted((ROOT / "profiles" / "package" / "example").glob("[A-Z]*.json")), ids=lambda p: p.name
)
def test_examples_accepted_by_both(engine: Engine, hapi: str, path: Path) -> None:
    resource = orjson.loads(path.read_bytes())
    assert [i for i in engine.validate(resource)["issue"] if i["severity"] == "error"] == []
    assert hapi_errors(hapi, resource) == []


def test_mutations_where_hapi_is_laxer_are_known(hapi: str) -> None:
    laxer = []
    for case_id, name, mutate, _, _ in CASES:
        resource = fixtures.fresh(name)
        mutate(resource)
        if not hapi_errors(hapi, resource, name):
            laxer.append(case_id)
    assert set(laxer) <= STRICTER_THAN_HAPI, laxer
