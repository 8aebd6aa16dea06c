"""Hypothesis fuzzing of the ``/fhir`` façade: search parameters (GET and POST ``_search``) and
``$validate`` bodies never get a 500; every answer is FHIR JSON (a Bundle, an OperationOutcome or the
validated resource's outcome). The number of cases run is printed (in the CI log) and asserted."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.fhir.params import COMMON, CONFORMANCE, RESULT, STORED
from service.fhir.search import PREFIXES
from tests.service.conftest import EXAMPLE, make_settings

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("ETMI_FUZZ_EXAMPLES", "25")) * 8
TYPES = [*STORED, "Questionnaire", "StructureDefinition", "ValueSet", "CodeSystem", "AuditEvent", "Basic"]
NAMES = sorted({n for kinds in STORED.values() for n in kinds} | set(COMMON) | set(RESULT) | set(CONFORMANCE))
EDGES = ["9999-12-31", "0001-01-01", "9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00+14:00", "2026-01-05T10:00:60Z",
         "2026-02-30", "²", "٣", "99999999999999999999999", "-1", "0", "\x00", "\ud800", "a" * 300, "Patient/", "|",
         "http://loinc.org|72514-3", "CarePlan:goal", "-date", "count", "1e3", " 5", "NaN", "%00", "../x"]


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    app: Flask = create_app(make_settings(f"sqlite:///{tmp_path_factory.mktemp('fhirfuzz') / 'etmi.db'}"))
    client = app.test_client()
    assert client.post("/api/v1/episodes", json=json.loads(Path(EXAMPLE).read_text())).status_code == 201
    yield client
    app.extensions["etmi"].store.close()


def _value() -> st.SearchStrategy[str]:
    date = st.builds(lambda p, d: p + d, st.sampled_from(["", *PREFIXES]),
                     st.from_regex(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,7})?)?"
                                   r"(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?", fullmatch=True))
    return st.one_of(st.sampled_from(EDGES), date, st.text(max_size=40), st.integers().map(str),
                     st.lists(st.sampled_from(EDGES), min_size=1, max_size=3).map(",".join))


def _name() -> st.SearchStrategy[str]:
    modifier = st.sampled_from(["", "", "", ":exact", ":missing", ":not", ":text", ":"])
    return st.builds(lambda n, m: n + m, st.one_of(st.sampled_from(NAMES), st.text(max_size=12)), modifier)


def _fhir(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code == 308:  # werkzeug merges repeated slashes ("/fhir/Patient//_history")
        assert response.headers["Location"].startswith("http://localhost/fhir/")
    elif response.status_code != 304:
        assert response.mimetype == "application/fhir+json", response.mimetype
        assert response.get_json(force=True)["resourceType"] in ("Bundle", "OperationOutcome", "CapabilityStatement")


def test_search_parameters_never_get_a_500(fuzz_client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    ran = [0]

    @given(rtype=st.sampled_from(TYPES), pairs=st.lists(st.tuples(_name(), _value()), max_size=5),
           post=st.booleans(), lenient=st.booleans())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(rtype: str, pairs: list[tuple[str, str]], post: bool, lenient: bool) -> None:
        ran[0] += 1
        headers = {"Prefer": "handling=lenient"} if lenient else {}
        query = urlencode([(n, v.encode("utf-8", "surrogatepass")) for n, v in pairs])
        if post:
            _fhir(fuzz_client.post(f"/fhir/{rtype}/_search", data=query, headers=headers,
                                   content_type="application/x-www-form-urlencoded"))
        else:
            _fhir(fuzz_client.get(f"/fhir/{rtype}?{query}", headers=headers))

    run()
    with capsys.disabled():  # the count reaches the CI log
        print(f"\nhypothesis: {ran[0]} /fhir searches, no 500")
    assert ran[0] >= EXAMPLES // 2


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)
ELEMENTS = ["id", "meta", "status", "code", "subject", "effectiveDateTime", "valueQuantity", "valueInteger",
            "component", "category", "identifier", "extension", "text", "item", "answer", "questionnaire",
            "authored", "period", "goal", "lifecycleStatus", "target", "parameter", "resource", "name"]


def _resource() -> st.SearchStrategy[dict[str, Any]]:
    fields = st.dictionaries(st.sampled_from(ELEMENTS), JSON, max_size=6)
    return st.builds(lambda t, f: {**f, "resourceType": t}, st.sampled_from([*TYPES, "Parameters", "Bundle", ""]),
                     fields)


def _body() -> st.SearchStrategy[Any]:
    wrapped = _resource().map(lambda r: {"resourceType": "Parameters", "parameter": [{"name": "resource",
                                                                                      "resource": r}]})
    return st.one_of(_resource(), wrapped, JSON)


def test_validate_bodies_never_get_a_500(fuzz_client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    ran = [0]

    @given(body=_body(), rtype=st.sampled_from(["", *TYPES]), profile=st.sampled_from(["", "x", "http://x/y"]))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(body: Any, rtype: str, profile: str) -> None:
        ran[0] += 1
        url = f"/fhir/{rtype}/$validate" if rtype else "/fhir/$validate"
        _fhir(fuzz_client.post(url + (f"?profile={profile}" if profile else ""), data=json.dumps(body),
                               content_type="application/fhir+json"))

    run()
    with capsys.disabled():  # the count reaches the CI log
        print(f"\nhypothesis: {ran[0]} $validate bodies, no 500")
    assert ran[0] >= EXAMPLES // 2


def test_reads_vreads_and_histories_never_get_a_500(fuzz_client: FlaskClient,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    ran = [0]
    ids = st.one_of(st.sampled_from(EDGES), st.text(min_size=1, max_size=80))

    @given(rtype=st.sampled_from(TYPES), rid=ids, version=st.one_of(st.none(), ids), history=st.booleans())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(rtype: str, rid: str, version: str | None, history: bool) -> None:
        ran[0] += 1
        url = f"/fhir/{rtype}/{quote(rid.encode('utf-8', 'surrogatepass'), safe='')}"
        if history:
            url += "/_history" + (f"/{quote(version.encode('utf-8', 'surrogatepass'), safe='')}" if version else "")
        _fhir(fuzz_client.get(url))

    run()
    with capsys.disabled():  # the count reaches the CI log
        print(f"\nhypothesis: {ran[0]} /fhir reads, no 500")
    assert ran[0] >= EXAMPLES // 2
