"""``service.security`` (scopes, bearer header, algorithms), ``security.authz`` (the decisions) and
``security.audit_event`` (the AuditEvent resource) held to their rules, written against the survivors of
their mutation run (docs/mutation/security.md).

Decisions are checked with their status, reason and audit fields (what the API answers and records); the
AuditEvent is compared whole with the codes of the FHIR R4 and IHE BALP code systems it promises; the
allowed signature algorithms are tried against a real issuer on loopback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.adapters.token_verifier import JwksTokenVerifier
from service.security import DEV_PRINCIPAL, Forbidden, InvalidToken, Principal, Scope, authz, bearer_token, parse_scopes
from tests.servers.loopback import QuietHandler, serve, stop

AUDIENCE = "https://etmi.example/fhir"
EPISODE_TYPES = ("Patient", "Condition", "CarePlan", "Goal", "Procedure", "QuestionnaireResponse", "Observation")


def who(scopes: str, patient: str | None = None) -> Principal:
    return Principal("sub-1", tuple(parse_scopes(scopes)), patient=patient)


def denied(call: Any, *args: Any, **kwargs: Any) -> authz.Denied:
    with pytest.raises(authz.Denied) as err:
        call(*args, **kwargs)
    return err.value


# -- scopes ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,granted", [
    ("user/Goal.read", "rs"), ("user/Goal.write", "cud"), ("user/Goal.*", "cruds"), ("user/Goal.cruds", "cruds"),
    ("user/Goal.rs", "rs"), ("user/Goal.c", "c"), ("user/Goal.", ""), ("user/Goal.rs?patient=x", ""),
    ("user/goal.rs", ""), ("other/Goal.rs", ""), ("user/Goal.sr", ""),
])
def test_scope_forms_grant_exactly_their_interactions(text: str, granted: str) -> None:
    scopes = parse_scopes(f"launch openid {text}")
    assert {i for i in "cruds" if any(s.grants("Goal", i) for s in scopes)} == set(granted)
    assert not any(s.grants("Observation", i) for s in scopes for i in "cruds")


def test_a_scope_names_its_context_type_and_wildcard() -> None:
    [scope] = parse_scopes("patient/*.rs")
    assert scope == Scope("patient", "*", frozenset("rs"))
    assert scope.grants("Observation", "r") and scope.grants("Goal", "s") and not scope.grants("Goal", "u")
    assert parse_scopes("system/Observation.cud")[0] == Scope("system", "Observation", frozenset("cud"))


def test_patient_limit() -> None:
    assert who("user/Goal.rs").patient_limit("Goal", "r") is None
    assert who("system/Goal.rs patient/Goal.rs", "p1").patient_limit("Goal", "r") is None
    assert who("patient/Goal.rs", "p1").patient_limit("Goal", "s") == "p1"
    assert DEV_PRINCIPAL.patient_limit("AuditEvent", "d") is None
    assert Principal("d", dev=True).patient_limit("X", "d") is None
    with pytest.raises(Forbidden, match=r"^scope does not allow 'r' on Goal$"):
        who("patient/Goal.rs").patient_limit("Goal", "r")  # no patient claim
    with pytest.raises(Forbidden, match=r"^scope does not allow 'c' on Goal$"):
        who("patient/Goal.rs", "p1").patient_limit("Goal", "c")
    assert (DEV_PRINCIPAL.subject, DEV_PRINCIPAL.dev) == ("dev-mode", True)


@pytest.mark.parametrize("header,token", [("Bearer abc.def", "abc.def"), ("bearer  abc.def ", "abc.def"),
                                          ("BEARER abc", "abc")])
def test_bearer_header(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header,reason", [(None, "missing bearer token"), ("", "missing bearer token"),
                                           ("Basic eDp5", "authorization is not a bearer token"),
                                           ("Bearer   ", "authorization is not a bearer token"),
                                           ("Bearer", "authorization is not a bearer token"),
                                           ("Bearerabc", "authorization is not a bearer token")])
def test_bearer_header_refused(header: str | None, reason: str) -> None:
    with pytest.raises(InvalidToken) as err:
        bearer_token(header)
    assert str(err.value) == reason


# -- signature algorithms ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {"RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048), "ES256": ec.generate_private_key(
        ec.SECP256R1()), "ES384": ec.generate_private_key(ec.SECP384R1())}


@pytest.fixture(scope="module")
def issuer(keys: dict[str, Any]) -> Iterator[str]:
    jwks = [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys["RS256"].public_key())), "kid": "RS256"},
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(keys["ES256"].public_key())), "kid": "ES256"},
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(keys["ES384"].public_key())), "kid": "ES384"}]
    body = json.dumps({"keys": jwks}).encode()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.send_body(200 if self.path == "/jwks" else 404, body)

    server, url = serve(Handler)
    yield url
    stop(server)


@pytest.mark.parametrize("alg,kid", [("RS256", "RS256"), ("RS384", "RS256"), ("ES256", "ES256"), ("ES384", "ES384")])
def test_the_allowed_algorithms(issuer: str, keys: dict[str, Any], alg: str, kid: str) -> None:
    token = jwt.encode({"iss": issuer, "aud": AUDIENCE, "exp": int(time.time()) + 60, "sub": "s"}, keys[kid], alg,
                       headers={"kid": kid})
    assert JwksTokenVerifier(issuer, AUDIENCE, f"{issuer}/jwks").verify(token).subject == "s"


@pytest.mark.parametrize("alg", ["PS256", "RS512", "HS256"])
def test_other_algorithms_are_refused(issuer: str, keys: dict[str, Any], alg: str) -> None:
    key = "k" * 32 if alg == "HS256" else keys["RS256"]
    token = jwt.encode({"iss": issuer, "aud": AUDIENCE, "exp": int(time.time()) + 60}, key, alg,
                       headers={"kid": "RS256"})
    with pytest.raises(InvalidToken, match=r"^token algorithm not allowed$"):
        JwksTokenVerifier(issuer, AUDIENCE, f"{issuer}/jwks").verify(token)


# -- authorization decisions -------------------------------------------------------------------------------------
def test_the_episode_types() -> None:
    """Reading or writing a whole episode needs the scope on each FHIR type its payload carries."""
    assert authz.EPISODE_TYPES == EPISODE_TYPES
    everything = " ".join(f"user/{t}.rs" for t in EPISODE_TYPES)
    assert authz.scope_limit_all(who(everything), EPISODE_TYPES, "r") is None
    for missing in EPISODE_TYPES:
        rest = " ".join(f"user/{t}.rs" for t in EPISODE_TYPES if t != missing)
        refusal = denied(authz.scope_limit_all, who(rest), authz.EPISODE_TYPES, "r")
        assert (refusal.status, refusal.resource_type, refusal.reason) == \
            (403, missing, f"scope does not allow 'r' on {missing}")
    assert authz.scope_limit_all(who("user/*.rs patient/Goal.rs", "p1"), EPISODE_TYPES, "r") is None
    assert authz.scope_limit_all(who("patient/*.rs user/Goal.rs", "p1"), EPISODE_TYPES, "r") == "p1"


def test_a_scope_refusal_is_a_403_that_says_nothing_of_data() -> None:
    refusal = denied(authz.scope_limit, who("user/Goal.rs"), "CarePlan", "r")
    assert (refusal.status, refusal.hidden, refusal.resource_type, refusal.resource_id, refusal.patient_id) == \
        (403, False, "CarePlan", None, None)
    assert str(refusal) == refusal.reason == "scope does not allow 'r' on CarePlan"
    assert authz.Denied("x").status == 403 and not authz.Denied("x").hidden


def test_a_stored_resource_outside_the_compartment_is_a_404_like_a_missing_one() -> None:
    mine = who("patient/*.rs", "p1")
    authz.check_stored(mine, "Goal", "r", "p1", "g1", "Goal/g1 not found")
    authz.check_stored(who("user/Goal.rs"), "Goal", "r", "p2", "g1", "Goal/g1 not found")
    refusal = denied(authz.check_stored, mine, "Goal", "r", "p2", "g1", "Goal/g1 not found")
    assert (refusal.reason, refusal.status, refusal.hidden, refusal.resource_type, refusal.resource_id,
            refusal.patient_id) == ("Goal/g1 not found", 404, True, "Goal", "g1", "p2")
    assert denied(authz.check_stored, mine, "Goal", "u", "p1", "g1", "gone").status == 403  # no .u scope


def test_may_see_is_the_same_decision_as_a_filter() -> None:
    mine = who("patient/Goal.rs", "p1")
    assert authz.may_see(mine, "Goal", "p1") and not authz.may_see(mine, "Goal", "p2")
    assert not authz.may_see(mine, "Goal", None) and not authz.may_see(mine, "CarePlan", "p1")
    assert authz.may_see(who("user/Goal.rs"), "Goal", "p2") and authz.may_see(DEV_PRINCIPAL, "Goal", "p2")
    search_only = who("user/Goal.s")
    assert not authz.may_see(search_only, "Goal", "p1")  # the default interaction is a read
    assert authz.may_see(search_only, "Goal", "p1", "s")


def test_episode_writes() -> None:
    # unrestricted: create anywhere, update in place, never move
    authz.check_episode_write(None, None, "p1", creating=True, episode_id="E1", not_found="E1 not found")
    authz.check_episode_write(None, "p1", "p1", creating=False, episode_id="E1", not_found="E1 not found")
    moved = denied(authz.check_episode_write, None, "p1", "p2", creating=False, episode_id="E1", not_found="-")
    assert (moved.status, moved.resource_type, moved.resource_id, moved.patient_id, moved.reason) == (
        409, "CarePlan", "E1", "p1",
        "an episode cannot move to another patient: the payload's patient differs from the stored episode's")
    # patient-scoped: only episodes already stored in its compartment
    authz.check_episode_write("p1", "p1", "p1", creating=False, episode_id="E1", not_found="-")
    for stored in (None, "p2"):
        created = denied(authz.check_episode_write, "p1", stored, "p1", creating=True, episode_id="E1", not_found="-")
        assert (created.status, created.resource_type, created.resource_id, created.patient_id, created.reason) == (
            403, "CarePlan", "E1", stored,
            "a patient-scoped token may only write episodes already in its patient's compartment")
        hidden = denied(authz.check_episode_write, "p1", stored, "p1", creating=False, episode_id="E1",
                        not_found="E1 not found")
        assert (hidden.status, hidden.reason, hidden.resource_type, hidden.resource_id, hidden.patient_id) == \
            (404, "E1 not found", "CarePlan", "E1", stored)
    assert denied(authz.check_episode_write, "p1", "p1", "p2", creating=False, episode_id="E1",
                  not_found="-").status == 409


def test_patient_registration() -> None:
    authz.check_patient_create(None, "p2")
    authz.check_patient_create("p1", "p1")
    refusal = denied(authz.check_patient_create, "p1", "p2")
    assert (refusal.status, refusal.resource_type, refusal.resource_id, refusal.patient_id, refusal.reason) == \
        (403, "Patient", None, None, "a patient-scoped token may only register its own patient")


def test_operator_endpoints() -> None:
    authz.check_operator(who("user/*.rs"), "Outbox", "r")
    authz.check_operator(who("system/AuditEvent.rs"), "AuditEvent", "r", system_only=True)
    authz.check_operator(DEV_PRINCIPAL, "AuditEvent", "r", system_only=True)
    compartment = denied(authz.check_operator, who("patient/*.rs", "p1"), "Outbox", "r")
    assert (compartment.status, compartment.resource_type, compartment.reason) == \
        (403, "Outbox", "Outbox is not part of a patient compartment")
    for scopes in ("user/*.rs", "system/Goal.rs user/*.rs", "system/AuditEvent.s user/*.rs"):
        refusal = denied(authz.check_operator, who(scopes), "AuditEvent", "r", system_only=True)
        assert (refusal.status, refusal.resource_type, refusal.reason) == \
            (403, "AuditEvent", "AuditEvent needs a system/ scope")
