"""SMART Backend Services token provider against the real authorization server, and a push through a
Medplum that checks every token."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.adapters.fhir_client import FhirClient
from service.adapters.smart_auth import BackendServicesAuth, generate_private_key_pem, public_jwk
from service.sync.clock import SystemClock
from service.sync.push import Pusher
from tests.integration.test_smart_support import register_backend_client, smart_configuration
from tests.servers.fixtures import medplum_secured_by
from tests.sync.support import drain, enqueue_bundle, episode_bundle, new_store, target_for, unique_episode

pytestmark = pytest.mark.smart


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def provider(smart_url: str, alg: str, clock: Clock | None = None, resource: str | None = None,
             scope: str = "system/Patient.rs") -> BackendServicesAuth:
    pem = generate_private_key_pem(alg)
    client_id = register_backend_client(smart_url, alg, jwks={"keys": [public_jwk(pem, "sync-1", alg)]})
    token_url = smart_configuration(smart_url)["token_endpoint"]
    if clock is None:
        return BackendServicesAuth(token_url, client_id, pem, "sync-1", alg, scope, resource=resource)
    return BackendServicesAuth(token_url, client_id, pem, "sync-1", alg, scope, resource=resource, clock=clock)


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_token_is_cached_renewed_before_expiry_and_after_invalidate(smart_url: str, alg: str) -> None:
    import time

    clock = Clock()
    clock.now = time.time()
    auth = provider(smart_url, alg, clock)
    first = auth.authorization()
    assert first and first.startswith("Bearer ")
    assert auth.authorization() == first and auth.fetches == 1, "a live token is reused"
    clock.now += 280  # the server's tokens live 300 s; renewal starts 30 s before
    second = auth.authorization()
    assert auth.fetches == 2 and second != first
    auth.invalidate()
    assert auth.authorization() != second and auth.fetches == 3


@pytest.fixture(scope="module")
def secured_medplum(smart_url: str) -> Iterator[str]:
    yield from medplum_secured_by(smart_url)


@pytest.mark.medplum
def test_push_through_a_token_checking_server(smart_url: str, secured_medplum: str, tmp_path: Path) -> None:
    scope = " ".join(f"system/{t}.cruds" for t in
                     ("Patient", "Condition", "CarePlan", "Goal", "Procedure", "QuestionnaireResponse",
                      "Observation", "Provenance"))
    auth = provider(smart_url, "ES384", resource=secured_medplum, scope=scope)
    target = target_for(secured_medplum, "medplum-secured")
    unauthenticated = FhirClient(secured_medplum)
    with pytest.raises(Exception, match="401"):
        unauthenticated.read("Patient", str(uuid.uuid4()))
    store = new_store(tmp_path)
    payload = unique_episode(8)
    enqueue_bundle(store, episode_bundle(payload), "p1")
    client = FhirClient(secured_medplum, auth)
    reports = drain(Pusher(store.outbox, store.id_map, [(target, client)], SystemClock(), "w1"))
    assert store.outbox.counts() == {"sent": 1}, [r.errors for r in reports]
    assert auth.fetches == 1, "one token serves every request of the push"
    auth._token = "expired-or-revoked"  # the server says 401: the client fetches a new token once
    assert client.capabilities()["resourceType"] == "CapabilityStatement"
    client.read("Patient", (store.id_map.get(target.name, "Patient", episode_bundle(payload)["entry"][0]
                                             ["fullUrl"].rsplit(":", 1)[1]) or ("",))[0])
    assert auth.fetches == 2
