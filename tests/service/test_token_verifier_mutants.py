"""The JWKS token verifier held to what the service relies on, written against the survivors of its mutation
run (docs/mutation/token_verifier.md): the 401 texts the service answers, discovery through either metadata
document, key choice (kid, one key, ``use``), refresh and key lifetime on a clock the test moves, document
size and encoding, no redirects, and the claims that make the caller.

Every issuer is a real HTTP server on loopback (``tests.servers.loopback``) that answers JSON only to a
client asking for it (``Accept: application/json``), like an issuer negotiating the content type.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient

from service.adapters.token_verifier import MAX_DOCUMENT, JwksTokenVerifier
from service.app import create_app
from service.security import InvalidToken
from tests.servers.loopback import QuietHandler, serve, stop
from tests.service.conftest import make_settings, outcome_of

AUDIENCE = "https://etmi.example/fhir"
OPENID, SMART = "/.well-known/openid-configuration", "/.well-known/smart-configuration"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk_of(key: ec.EllipticCurvePrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    return {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "ES256", **extra}


class Issuer:
    """``routes``: path -> (status, body bytes, extra headers); ``hits`` counts requests per path."""

    def __init__(self, openid: bool = True, smart: bool = False) -> None:
        self.key = new_key()
        self.routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.hits: Counter[str] = Counter()
        issuer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                issuer.hits[self.path] += 1
                status, body, headers = issuer.routes.get(self.path, (404, b"{}", {}))
                if "application/json" not in self.headers.get("Accept", ""):
                    status, body, headers = 406, b"<html>JSON only on request</html>", {}
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server, self.url = serve(Handler)
        for path, wanted in ((OPENID, openid), (SMART, smart)):
            if wanted:
                self.json(path, {"issuer": self.url, "jwks_uri": f"{self.url}/jwks"})
        self.keys([jwk_of(self.key, "k1")])

    def json(self, path: str, document: Any, status: int = 200) -> None:
        self.routes[path] = (status, json.dumps(document).encode(), {})

    def keys(self, jwks: list[dict[str, Any]]) -> None:
        self.json("/jwks", {"keys": jwks})

    def token(self, key: ec.EllipticCurvePrivateKey | None = None, kid: Any = "k1", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": AUDIENCE, "sub": "client-1", "exp": now + 300, "iat": now,
                "scope": "system/*.rs", **claims}
        payload = json.dumps({k: v for k, v in body.items() if v is not None}).encode()  # any claim type
        headers = {} if kid is None else {"kid": kid}
        return jwt.api_jws.encode(payload, key or self.key, algorithm="ES256", headers=headers)


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    server = Issuer()
    yield server
    stop(server.server)


@pytest.fixture(scope="module")
def shared_issuer() -> Iterator[Issuer]:
    """An issuer no test changes, for the service below."""
    server = Issuer()
    yield server
    stop(server.server)


@pytest.fixture(scope="module")
def service(shared_issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    database = tmp_path_factory.mktemp("verifier") / "etmi.db"
    app = create_app(make_settings(f"sqlite:///{database}", auth_mode="jwt", auth_issuer=shared_issuer.url,
                                   auth_audience=AUDIENCE))
    yield app.test_client()
    app.extensions["etmi"].store.close()


def refused(verifier: JwksTokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as err:
        verifier.verify(token)
    return str(err.value)


# -- the 401 the service answers, with its reason ----------------------------------------------------------------
REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("another-issuer", {"iss": "https://evil.example"}, "token from another issuer"),
    ("issuer-not-text", {"iss": 7}, "token from another issuer"),
    ("unknown-kid", {"kid": "k9"}, "no matching signing key from the issuer"),
    ("scope-not-text", {"scope": 7}, "the scope claim must be a string or a list of strings"),
    ("patient-not-text", {"patient": 7}, "the patient claim must be a string"),
    ("sub-with-nul", {"sub": "a\x00b"}, "the sub claim is not a usable id"),
    ("client-id-too-long", {"sub": None, "client_id": "c" * 256}, "the client_id claim is not a usable id"),
    ("patient-too-long", {"patient": "p" * 256}, "the patient claim is not a usable id"),
    ("expired", {"exp": int(time.time()) - 3600}, "ExpiredSignatureError"),
    ("another-audience", {"aud": "https://elsewhere.example"}, "InvalidAudienceError"),
]


@pytest.mark.parametrize("claims,reason", [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_the_service_answers_a_refused_token_with_401_and_the_reason(
        service: FlaskClient, shared_issuer: Issuer, claims: dict[str, Any], reason: str) -> None:
    claims = dict(claims)
    kid = claims.pop("kid", "k1")
    token = shared_issuer.token(kid=kid, **claims)
    response = service.get("/fhir/Goal", headers={"Authorization": f"Bearer {token}"})
    body = outcome_of(response, 401)
    assert body["issue"][0]["diagnostics"] == f"authentication required: {reason}"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_the_service_names_what_was_wrong_with_an_unreadable_or_forged_token(service: FlaskClient,
                                                                               shared_issuer: Issuer) -> None:
    for token, reason in (("not.a.jwt", "DecodeError"), (shared_issuer.token(new_key()), "InvalidSignatureError")):
        body = outcome_of(service.get("/fhir/Goal", headers={"Authorization": f"Bearer {token}"}), 401)
        assert body["issue"][0]["diagnostics"] == f"authentication required: {reason}"


def test_a_token_without_scopes_is_authenticated_but_may_do_nothing(service: FlaskClient,
                                                                     shared_issuer: Issuer) -> None:
    """No ``scope`` claim is no scope (403 for the interaction), not a malformed token (401)."""
    token = shared_issuer.token(scope=None)
    response = service.get("/fhir/Goal", headers={"Authorization": f"Bearer {token}"})
    assert outcome_of(response, 403)["issue"][0]["code"] == "forbidden"


def test_no_issuer_configured_refuses_every_token(issuer: Issuer) -> None:
    assert refused(JwksTokenVerifier("", AUDIENCE), issuer.token()) == "no token issuer configured (ETMI_AUTH_ISSUER)"
    assert issuer.hits == Counter()


def test_an_algorithm_outside_the_list_is_refused_before_any_fetch(issuer: Issuer) -> None:
    verifier = JwksTokenVerifier(issuer.url, AUDIENCE)
    hs256 = jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "exp": int(time.time()) + 60}, "s" * 32, "HS256")
    assert refused(verifier, hs256) == "token algorithm not allowed"
    assert verifier.fetches == 0 and issuer.hits == Counter()


# -- the caller a token makes --------------------------------------------------------------------------------------
def test_the_principal_from_the_claims(issuer: Issuer) -> None:
    verifier = JwksTokenVerifier(issuer.url, AUDIENCE)
    who = verifier.verify(issuer.token(patient="pat-1", scope="patient/*.rs launch", client_id="app-1"))
    assert (who.subject, who.patient, [s.context for s in who.scopes]) == ("client-1", "pat-1", ["patient"])
    assert who.claims["client_id"] == "app-1" and who.claims["aud"] == AUDIENCE
    assert verifier.verify(issuer.token(sub=None, client_id="app-1")).subject == "app-1"
    assert verifier.verify(issuer.token(sub=None)).subject == "unknown"
    assert refused(verifier, issuer.token(patient="")) == "the patient claim is not a usable id"
    assert verifier.verify(issuer.token(scope=None)).scopes == ()


# -- discovery and keys --------------------------------------------------------------------------------------------
def test_an_issuer_configured_with_a_trailing_slash(issuer: Issuer) -> None:
    verifier = JwksTokenVerifier(issuer.url + "/", AUDIENCE)
    assert verifier.verify(issuer.token()).subject == "client-1"
    assert verifier.verify(issuer.token(iss=issuer.url + "/")).subject == "client-1"
    assert issuer.hits == Counter({OPENID: 1, "/jwks": 1})  # not "//.well-known/..."
    assert verifier.fetches == 2


def test_an_issuer_whose_path_ends_in_a_letter_keeps_it(issuer: Issuer) -> None:
    """Only a trailing ``/`` is dropped: ``.../realms/X`` stays itself (a configured JWKS, no discovery)."""
    realm = f"{issuer.url}/realms/X"
    verifier = JwksTokenVerifier(realm, AUDIENCE, f"{issuer.url}/jwks")
    assert verifier.verify(issuer.token(iss=realm)).subject == "client-1"


def test_an_issuer_with_smart_configuration_only() -> None:
    smart = Issuer(openid=False, smart=True)
    try:
        verifier = JwksTokenVerifier(smart.url, AUDIENCE)
        assert verifier.verify(smart.token()).subject == "client-1"
        assert smart.hits == Counter({OPENID: 1, SMART: 1, "/jwks": 1})
        smart.json(OPENID, {"issuer": smart.url, "jwks_uri": 42})  # not a URL: the next document is asked
        fresh = JwksTokenVerifier(smart.url, AUDIENCE)
        assert fresh.verify(smart.token()).subject == "client-1" and fresh.fetches == 3
    finally:
        stop(smart.server)


def test_a_configured_jwks_url_skips_discovery(issuer: Issuer) -> None:
    verifier = JwksTokenVerifier(issuer.url, AUDIENCE, f"{issuer.url}/jwks")
    verifier.verify(issuer.token())
    assert issuer.hits == Counter({"/jwks": 1}) and verifier.fetches == 1


def test_a_token_without_a_usable_kid_needs_a_single_key(issuer: Issuer) -> None:
    verifier = JwksTokenVerifier(issuer.url, AUDIENCE)
    assert verifier.verify(issuer.token(kid=None)).subject == "client-1"
    second = new_key()
    issuer.keys([jwk_of(issuer.key, "k1"), jwk_of(second, "k2")])
    two = JwksTokenVerifier(issuer.url, AUDIENCE)
    assert refused(two, issuer.token(kid=None)) == "no matching signing key from the issuer"
    assert two.verify(issuer.token(second, kid="k2")).subject == "client-1"


def test_only_signing_keys_are_used(issuer: Issuer) -> None:
    issuer.keys([jwk_of(issuer.key, "k1", use="enc")])
    assert refused(JwksTokenVerifier(issuer.url, AUDIENCE), issuer.token()) == \
        "no matching signing key from the issuer"
    issuer.keys([jwk_of(issuer.key, "k1", use="sig")])
    assert JwksTokenVerifier(issuer.url, AUDIENCE).verify(issuer.token()).subject == "client-1"


def test_refresh_interval_and_key_lifetime_on_the_clock(issuer: Issuer) -> None:
    """Defaults: a new fetch at the earliest 30 s after the last one; keys used for 600 s, then fetched again;
    while the issuer is down the old keys stay usable."""
    now = [1000.0]
    verifier = JwksTokenVerifier(issuer.url, AUDIENCE, clock=lambda: now[0])
    verifier.verify(issuer.token())
    assert issuer.hits["/jwks"] == 1
    rotated = new_key()
    issuer.keys([jwk_of(issuer.key, "k1"), jwk_of(rotated, "k2")])
    now[0] += 29.75
    assert refused(verifier, issuer.token(rotated, kid="k2")) == "no matching signing key from the issuer"
    assert issuer.hits["/jwks"] == 1
    now[0] += 0.25  # 30 s after the first fetch
    assert verifier.verify(issuer.token(rotated, kid="k2")).subject == "client-1"
    assert issuer.hits["/jwks"] == 2
    now[0] += 599.75
    verifier.verify(issuer.token())
    assert issuer.hits["/jwks"] == 2  # known keys within their lifetime: no fetch
    now[0] += 0.25  # 600 s after the second fetch
    issuer.json("/jwks", {}, status=503)
    assert verifier.verify(issuer.token()).subject == "client-1"  # stale but usable
    assert issuer.hits["/jwks"] == 3 and verifier.fetches == 4


# -- what a document may be ----------------------------------------------------------------------------------------
def test_a_jwks_of_exactly_the_size_limit_is_read_and_one_byte_more_is_not(issuer: Issuer) -> None:
    document = json.dumps({"keys": [jwk_of(issuer.key, "k1")]}).encode()
    issuer.routes["/jwks"] = (200, document + b" " * (MAX_DOCUMENT - len(document)), {})
    assert JwksTokenVerifier(issuer.url, AUDIENCE).verify(issuer.token()).subject == "client-1"
    issuer.routes["/jwks"] = (200, document + b" " * (MAX_DOCUMENT + 1 - len(document)), {})
    assert refused(JwksTokenVerifier(issuer.url, AUDIENCE), issuer.token()) == \
        "no matching signing key from the issuer"


def test_a_gzip_encoded_jwks_is_decoded(issuer: Issuer) -> None:
    document = gzip.compress(json.dumps({"keys": [jwk_of(issuer.key, "k1")]}).encode())
    issuer.routes["/jwks"] = (200, document, {"Content-Encoding": "gzip"})
    assert JwksTokenVerifier(issuer.url, AUDIENCE).verify(issuer.token()).subject == "client-1"


def test_a_redirect_to_other_keys_is_not_followed(issuer: Issuer) -> None:
    attacker = Issuer()
    try:
        issuer.routes["/jwks"] = (302, b"", {"Location": f"{attacker.url}/jwks"})
        forged = issuer.token(attacker.key)  # the issuer's iss and kid, the attacker's key
        assert refused(JwksTokenVerifier(issuer.url, AUDIENCE), forged) == "no matching signing key from the issuer"
        assert attacker.hits == Counter()
    finally:
        stop(attacker.server)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"keys"'], ids=["text", "list", "string"])
def test_a_jwks_that_is_not_a_json_object_is_no_keys(issuer: Issuer, body: bytes) -> None:
    """Refused as a token without a key (401), not an error of the service (500)."""
    issuer.routes["/jwks"] = (200, body, {})
    assert refused(JwksTokenVerifier(issuer.url, AUDIENCE), issuer.token()) == \
        "no matching signing key from the issuer"
