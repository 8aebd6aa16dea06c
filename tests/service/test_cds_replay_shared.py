"""A CDS Client JWT is accepted once across every process of one database (the ``cds_jti`` table), not once per
process: two app instances on one database (SQLite file, PostgreSQL) stand for two gunicorn workers or hosts.
The ledger itself: expired ids are purged (and may come again), a full ledger refuses, a race has one winner."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from service.app import create_app
from service.store import open_store
from service.store.cds_jti import CdsJtiLedger
from service.store.models import CdsJtiRow
from tests.service.cds_client import ISS, Ehr
from tests.service.test_cds_hooks import call, cds_settings, hook_request

EMPTY = {"etmiCarePlans": None, "etmiOutcomes": None}


@pytest.fixture(scope="module")
def ehr() -> Iterator[Ehr]:
    client = Ehr()
    yield client
    client.jwks.close()


@pytest.fixture
def two_apps(database_url: str, ehr: Ehr) -> Iterator[tuple[Flask, Flask]]:
    first = create_app(cds_settings(database_url, ehr.jwks.url))
    second = create_app(cds_settings(database_url, ehr.jwks.url))
    yield first, second
    for app in (first, second):
        app.extensions["etmi"].store.close()


def test_a_jwt_accepted_by_one_process_is_refused_by_another(two_apps: tuple[Flask, Flask], ehr: Ehr) -> None:
    first, second = two_apps
    token = ehr.token()
    assert call(first.test_client(), hook_request(EMPTY), token).status_code == 200
    replayed = call(second.test_client(), hook_request(EMPTY), token)
    assert replayed.status_code == 401
    assert "replay" in replayed.get_json()["message"]
    assert call(second.test_client(), hook_request(EMPTY), ehr.token()).status_code == 200  # a fresh jti is fine


def test_the_same_jwt_sent_to_two_processes_at_once_is_accepted_once(two_apps: tuple[Flask, Flask],
                                                                      ehr: Ehr) -> None:
    tokens = [ehr.token() for _ in range(5)]
    statuses: list[int] = []
    lock = threading.Lock()

    def send(app: Flask, token: str) -> None:
        status = call(app.test_client(), hook_request(EMPTY), token).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send, args=(app, token)) for token in tokens for app in two_apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200] * len(tokens) + [401] * len(tokens)


def test_expired_ids_are_purged_and_a_full_ledger_refuses(database_url: str) -> None:
    store = open_store(database_url)
    try:
        ledger = CdsJtiLedger(store.sessions, max_live=2)
        now = time.time()
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        assert ledger.claim(ISS, first, now + 60, now) == "new"
        assert ledger.claim(ISS, first, now + 60, now + 30) == "replay"
        assert ledger.claim("https://other.example.test", first, now + 60, now) == "new"  # per issuer
        assert ledger.claim(ISS, second, now + 60, now) == "full"
        assert ledger.claim(ISS, first, now + 200, now + 61) == "new"  # expired, purged: the old row is gone
        with store.sessions() as session:
            assert session.scalar(select(func.count()).select_from(CdsJtiRow)) == 1
        assert ledger.claim(ISS, second, 1e20, now + 61) == "new"  # an absurd exp is kept, not an error
    finally:
        store.close()
