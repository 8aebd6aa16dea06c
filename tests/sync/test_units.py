"""Unit tests of the pure parts of the sync engine: targets, plans, backoff, error classification."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from service.sync.errors import classify, parse_retry_after
from service.sync.plan import content_equal, levels, plan_writes
from service.sync.ports import AuthError, ConflictError, NotFoundError, RejectedError, RetryableError
from service.sync.refs import parse_location
from service.sync.retry import Backoff
from service.sync.targets import TargetConfigError, load_targets, parse_targets, targets_from_env


@dataclass
class Entry:
    id: int
    resource: dict[str, Any]
    operation: str = "transaction"
    patient_key: str = "p1"
    resource_type: str = "Bundle"
    local_id: str = "e"
    attempts: int = 1
    status: str = "in-flight"
    extra: dict[str, Any] = field(default_factory=dict)


def test_targets_from_toml_with_auth_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "targets.toml"
    path.write_text('''
[[targets]]
name = "epic"
base_url = "https://ehr.example.org/fhir/"
mode = "batch"
max_entries = 8
timeout = [3, 20]
pull_types = ["Goal"]
conflicts = { Goal = "ehr-wins" }
auth = { kind = "smart-backend", client_id = "etmi", private_key_file = "k.pem", kid = "k1", alg = "RS384" }
''')
    [target] = load_targets(path)
    assert (target.name, target.base_url, target.mode, target.max_entries) == ("epic", "https://ehr.example.org/fhir",
                                                                             "batch", 8)
    assert target.timeout == (3.0, 20.0) and target.pull_types == ("Goal",)
    assert target.auth.kind == "smart-backend" and target.auth.alg == "RS384"
    assert target.conflicts == {"Goal": "ehr-wins"}


@pytest.mark.parametrize("raw, message", [
    ({"base_url": "http://x", "batchsize": 3}, "unknown keys"),
    ({"mode": "transaction"}, "base_url is required"),
    ({"base_url": "http://x", "auth": {"kind": "bearer"}}, "needs token"),
    ({"base_url": "http://x", "auth": {"kind": "smart-backend", "client_id": "c", "private_key_pem": "k",
                                       "alg": "HS256"}}, "RS384 or ES384"),
    ({"base_url": "http://x", "push_types": ["Encounter"]}, "does not exchange"),
])
def test_target_config_errors_name_the_problem(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(TargetConfigError, match=message):
        parse_targets({"targets": [raw]})


def test_targets_from_env_shorthand_and_inline_json() -> None:
    [t] = targets_from_env({"ETMI_EHR_BASE_URL": "http://h/fhir", "ETMI_EHR_BEARER_TOKEN": "abc"})
    assert t.name == "default" and t.auth.kind == "bearer"
    [u] = targets_from_env({"ETMI_SYNC_TARGETS": '{"targets": {"m": {"base_url": "http://m"}}}'})
    assert u.name == "m"
    assert targets_from_env({}) == []


def bundle() -> dict[str, Any]:
    pid, gid, cid = "11111111-0000-0000-0000-000000000001", "22222222-0000-0000-0000-000000000002", \
        "33333333-0000-0000-0000-000000000003"
    ident = {"system": "urn:x", "value": "v"}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{cid}", "request": {"method": "PUT", "url": "CarePlan?identifier=urn:x|cp"},
         "resource": {"resourceType": "CarePlan", "identifier": [ident], "subject": {"reference": f"urn:uuid:{pid}"},
                      "goal": [{"reference": f"urn:uuid:{gid}"}]}},
        {"fullUrl": f"urn:uuid:{gid}", "request": {"method": "PUT", "url": "Goal?identifier=urn:x|g"},
         "resource": {"resourceType": "Goal", "identifier": [ident], "subject": {"reference": f"urn:uuid:{pid}"}}},
        {"fullUrl": f"urn:uuid:{pid}", "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=a|b"},
         "resource": {"resourceType": "Patient", "identifier": [ident]}},
    ]}


def test_plan_orders_referenced_first_and_keeps_local_references() -> None:
    plan = plan_writes([Entry(1, bundle())])
    assert [w.resource_type for w in plan] == ["Patient", "Goal", "CarePlan"]
    careplan = plan[2]
    assert careplan.kind == "upsert" and careplan.condition == "identifier=urn:x|cp"
    assert careplan.resource["subject"]["reference"] == "Patient/11111111-0000-0000-0000-000000000001"
    assert plan[0].kind == "create" and plan[0].condition == "identifier=a|b"
    assert [[w.resource_type for w in level] for level in levels(plan)] == [["Patient"], ["Goal"], ["CarePlan"]]


def test_plan_squashes_repeated_writes_of_one_resource() -> None:
    goal = {"resourceType": "Goal", "id": "g1", "identifier": [{"system": "urn:x", "value": "g1"}],
            "description": {"text": "old"}}
    newer = {**goal, "description": {"text": "new"}, "meta": {"versionId": "7", "profile": ["p"]}}
    plan = plan_writes([Entry(1, goal, "update", resource_type="Goal", local_id="g1"),
                        Entry(2, newer, "update", resource_type="Goal", local_id="g1")])
    assert len(plan) == 1 and plan[0].entry_ids == [1, 2]
    assert plan[0].resource["description"]["text"] == "new"
    assert plan[0].resource["meta"] == {"profile": ["p"]}, "server-owned meta is never sent"


def test_patient_is_never_updated() -> None:
    patient = {"resourceType": "Patient", "id": "p", "identifier": [{"system": "urn:x", "value": "p"}]}
    [write] = plan_writes([Entry(1, patient, "update", resource_type="Patient", local_id="p")])
    assert write.kind == "create"


def test_content_equal_ignores_ids_meta_and_reference_targets() -> None:
    ours = {"resourceType": "Goal", "subject": {"reference": "Patient/local"}, "description": {"text": "x"}}
    theirs = {**ours, "id": "9", "meta": {"versionId": "3"}, "subject": {"reference": "Patient/123"}}
    assert content_equal(ours, theirs)
    assert not content_equal(ours, {**theirs, "description": {"text": "y"}})


def test_backoff_grows_with_jitter_is_capped_and_honours_retry_after() -> None:
    low = Backoff(base=2, cap=60, max_attempts=5, rand=lambda: 0.0)
    high = Backoff(base=2, cap=60, max_attempts=5, rand=lambda: 1.0)
    assert [low.delay(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert [high.delay(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert high.delay(20) == 60.0
    assert low.delay(1, retry_after=30) == 30.0 and low.delay(1, retry_after=10**6) == 3600.0
    assert not low.exhausted(4) and low.exhausted(5)


def test_retry_after_as_seconds_or_http_date() -> None:
    now = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize("status, kind", [(429, RetryableError), (503, RetryableError), (500, RetryableError),
                                          (502, RetryableError), (409, ConflictError), (412, ConflictError),
                                          (404, NotFoundError), (410, NotFoundError), (401, AuthError),
                                          (400, RejectedError), (422, RejectedError)])
def test_classification(status: int, kind: type) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "diagnostics": "HAPI-1094"}]}
    err = classify(status, {"Retry-After": "3"}, outcome, "POST [base]")
    assert type(err) is kind and err.status == status and "HAPI-1094" in str(err)
    if status in (429, 503):
        assert isinstance(err, RetryableError) and err.retry_after == 3.0


@pytest.mark.parametrize("location, etag, expected", [
    ("Patient/123/_history/2", None, ("Patient", "123", "2")),
    ("http://h/fhir/Goal/ab-c/_history/7f3e", None, ("Goal", "ab-c", "7f3e")),
    ("Observation/u-u-i-d", 'W/"v9"', ("Observation", "u-u-i-d", "v9")),
    (None, None, None),
])
def test_parse_location(location: str | None, etag: str | None, expected: Any) -> None:
    assert parse_location(location, etag) == expected


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_client_assertion_is_short_lived_unique_and_verifiable_with_the_published_jwks(alg: str) -> None:
    import jwt

    from service.adapters.smart_auth import BackendServicesAuth, generate_private_key_pem, public_jwks

    pem = generate_private_key_pem(alg)
    auth = BackendServicesAuth("https://as.example.org/token", "etmi", pem, "k1", alg)
    first, second = auth.client_assertion(), auth.client_assertion()
    [jwk] = public_jwks([(pem, "k1", alg)])["keys"]
    assert (jwk["kid"], jwk["alg"], jwk["use"]) == ("k1", alg, "sig")
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(first, key, algorithms=[alg], audience="https://as.example.org/token")
    assert claims["iss"] == claims["sub"] == "etmi" and claims["exp"] - claims["iat"] == 300
    assert jwt.get_unverified_header(first)["kid"] == "k1"
    assert claims["jti"] != jwt.decode(second, key, algorithms=[alg], audience=claims["aud"])["jti"]


def test_provenance_ids_are_client_ids_hapi_accepts_and_stable_per_retry() -> None:
    from service.sync.provenance import provenance_id

    pid = provenance_id("hapi", [3, 1], 0, ["Goal/a", "CarePlan/b"])
    assert pid == provenance_id("hapi", [1, 3], 0, ["CarePlan/b", "Goal/a"])
    assert pid != provenance_id("hapi", [1, 3], 0, ["CarePlan/c"])
    assert len(pid) <= 64 and not pid.isdigit() and all(c.isalnum() or c in "-." for c in pid)


def test_conflict_policies_default_per_type_and_overridable() -> None:
    from service.sync.conflicts import policy_for

    assert policy_for("CarePlan", {}) == "ehr-wins:status"
    assert policy_for("Goal", {}) == "hold" and policy_for("Observation", {}) == "service-wins"
    assert policy_for("Goal", {"Goal": "ehr-wins"}) == "ehr-wins"
    with pytest.raises(ValueError, match="unknown conflict policy"):
        policy_for("Goal", {"Goal": "coin-toss"})
