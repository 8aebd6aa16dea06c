"""Schema-driven fuzzing of ``/api/v1`` with schemathesis: the OpenAPI document is the truth.

Every operation of ``/api/v1/openapi.json`` gets generated requests, valid (positive) and invalid
(negative) by its own schema, sent to the Flask app (jwt mode, a valid ``system/*.cruds`` token from a
loopback issuer). Each answer must pass ``not_a_server_error``, ``response_schema_conformance`` and
``content_type_conformance``. Half the cases aim at an episode that exists, so the fuzzed bodies reach
the mapping, validation and store. Bounded: ``FUZZ_EXAMPLES`` per operation and mode, no database of
examples; the number of cases run is printed (in the CI log) and asserted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from sqlalchemy import update

from service.app import create_app
from service.store.models import OutboxRow
from tests.service.conftest import EXAMPLE, make_settings
from tests.service.test_token_rejections import AUDIENCE, claims, issuer, sign, signing_key  # noqa: F401

pytestmark = pytest.mark.slow
FUZZ_EXAMPLES = int(os.environ.get("ETMI_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def fuzz_app(issuer: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:  # noqa: F811
    db = tmp_path_factory.mktemp("fuzz") / "etmi.db"
    app = create_app(make_settings(f"sqlite:///{db}", auth_mode="jwt", auth_issuer=issuer, auth_audience=AUDIENCE))
    yield app
    app.extensions["etmi"].store.close()


@pytest.fixture(scope="module")
def token(issuer: str, signing_key: rsa.RSAPrivateKey) -> str:  # noqa: F811
    return sign(claims(issuer, scope="system/*.cruds", exp=None) | {"exp": 4102444800}, signing_key)


def test_every_operation_answers_as_documented(fuzz_app: Flask, token: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    episode: dict[str, Any] = json.loads(Path(EXAMPLE).read_text())
    stored = fuzz_app.test_client().post("/api/v1/episodes", json=episode, headers=auth)
    assert stored.status_code == 201, stored.get_data(as_text=True)
    known = {"episode_id": episode["episode_id"], "patient_id": stored.get_json()["patient_id"],
             "goal_id": episode["goals"][0]["goal_id"]}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16
    ran = {"cases": 0, "no negative": 0}
    for operation in operations:
        _fuzz(operation, GenerationMode.POSITIVE, auth, known, ran)
        try:
            _fuzz(operation, GenerationMode.NEGATIVE, auth, known, ran)
        except Unsatisfiable:  # nothing of it can be invalid (e.g. only free-form string path parameters)
            ran["no negative"] += 1
    with capsys.disabled():  # the count reaches the CI log
        print(f"\nschemathesis: {ran['cases']} cases over {len(operations)} operations "
              f"({ran['no negative']} without negative cases), 0 failures")
    assert ran["cases"] >= len(operations) * FUZZ_EXAMPLES


def test_the_document_describes_every_answer(fuzz_app: Flask) -> None:
    """Every operation: a success schema (application/json) and every error an OperationOutcome
    (application/fhir+json); no catch-all ``default`` answer."""
    spec = fuzz_app.test_client().get("/api/v1/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            answers = operation["responses"]
            assert "default" not in answers, (method, path)
            assert {"400", "401", "403", "404", "500"} <= set(answers), (method, path)
            for status, answer in answers.items():
                (content_type, body), = answer["content"].items()
                expected = "application/json" if status < "300" else "application/fhir+json"
                assert content_type == expected, (method, path, status)
                ref = body["schema"].get("$ref", "")
                assert (ref == "#/components/schemas/OperationOutcome") == (status >= "400"), (method, path, status)


def test_outbox_and_audit_answers_match_their_schema(fuzz_app: Flask, token: str) -> None:
    """Entries of every status, with an EHR's outcome and error, and audit rows of reads and writes."""
    auth = {"Authorization": f"Bearer {token}"}
    episode: dict[str, Any] = {**json.loads(Path(EXAMPLE).read_text()), "episode_id": "EP-OUTBOX-AUDIT"}
    assert fuzz_app.test_client().post("/api/v1/episodes", json=episode, headers=auth).status_code == 201
    store = fuzz_app.extensions["etmi"].store
    with store.sessions() as session, session.begin():
        session.execute(update(OutboxRow).values(status="dead", attempts=3, last_error="HTTP 422", outcome={
            "resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]}))
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    for path, query in (("/api/v1/outbox", {"status": "pending,in-flight,sent,failed,dead"}), ("/api/v1/audit", {})):
        response = schema[path]["GET"].Case(query=query).call_and_validate(headers=auth, checks=CHECKS)
        assert response.status_code == 200 and response.json()["entries"], response.text


def _fuzz(operation: Any, mode: GenerationMode, auth: dict[str, str], known: dict[str, str],
          ran: dict[str, int]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode), aim=st.booleans())
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case: Any, aim: bool) -> None:
        if aim and case.path_parameters:
            case.path_parameters = {**case.path_parameters,
                                    **{k: v for k, v in known.items() if k in case.path_parameters}}
        ran["cases"] += 1
        case.call_and_validate(headers=auth, checks=CHECKS)

    run()
