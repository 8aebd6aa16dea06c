"""Patient ids reveal nothing: HMAC-SHA256 of the identifier under the deployment's secret key.

The key is ETMI_ID_KEY, or one the service makes once and keeps in its database; the same identifier
always gets the same id in a deployment (restarts included), and an id cannot be recomputed from a
guessed MRN without the key (the old id was an unkeyed UUIDv5 of the identifier).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mappings import canonical as c
from mappings.domain import PatientRef
from mappings.refs import MappingContext, patient_id
from service.app import create_app
from service.config import ConfigError, Settings
from service.store import open_store
from service.store.id_key import IdKeyMissing, stored_key
from service.store.models import IdKeyRow
from tests.service.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "examples" / "episode.json").read_text())
SYSTEM, MRN = EXAMPLE["patient"]["system"], EXAMPLE["patient"]["value"]
KEY = "k" * 16 + "0123456789abcdef0123456789abcdef"


def unkeyed(system: str, value: str) -> str:
    """The id before keyed ids: UUIDv5 of ``system|value``, which anyone could recompute from a guessed MRN."""
    return str(uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, c.BASE), f"{system}|{value}"))


def post_example(database: str, **settings: Any) -> str:
    app = create_app(make_settings(database, **settings))
    try:
        response = app.test_client().post("/api/v1/episodes", json=EXAMPLE)
        assert response.status_code in (200, 201), response.get_data(as_text=True)
        pid: str = response.get_json()["patient_id"]
        assert app.test_client().get(f"/fhir/Patient/{pid}").status_code == 200
        return pid
    finally:
        app.extensions["etmi"].store.close()


def test_with_etmi_id_key_the_id_is_the_hmac_of_the_identifier(tmp_path: Path) -> None:
    pid = post_example(f"sqlite:///{tmp_path / 'a.db'}", id_key=KEY)
    assert pid == patient_id(PatientRef(SYSTEM, MRN, id_key=KEY.encode()))
    assert pid != unkeyed(SYSTEM, MRN) and pid != patient_id(PatientRef(SYSTEM, MRN))  # not the old id nor test key
    assert MRN not in pid
    assert post_example(f"sqlite:///{tmp_path / 'b.db'}", id_key=KEY) == pid  # one key, one id: every process


def test_without_a_key_the_service_makes_one_and_keeps_it_across_restarts(tmp_path: Path) -> None:
    first = post_example(f"sqlite:///{tmp_path / 'a.db'}")
    assert post_example(f"sqlite:///{tmp_path / 'a.db'}") == first  # a restart: the same id
    other = post_example(f"sqlite:///{tmp_path / 'b.db'}")
    assert other != first, "another database makes another key"
    assert first != unkeyed(SYSTEM, MRN) and first != patient_id(PatientRef(SYSTEM, MRN))
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}", migrate=False)
    try:
        with store.sessions() as session:
            assert session.scalar(select(func.count()).select_from(IdKeyRow)) == 1
        assert first == patient_id(PatientRef(SYSTEM, MRN, id_key=stored_key(store)))
    finally:
        store.close()


def test_a_database_with_patients_from_before_keyed_ids_is_not_given_a_new_key(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'old.db'}"
    post_example(database)
    store = open_store(database, migrate=False)
    try:
        with store.sessions() as session, session.begin():
            session.query(IdKeyRow).delete()
        fresh = open_store(database, migrate=False)  # a new engine: nothing cached
        with pytest.raises(IdKeyMissing, match="migration 0005"):
            stored_key(fresh)
        fresh.close()
    finally:
        store.close()


def test_the_key_setting_is_read_checked_and_never_shown() -> None:
    settings = Settings.from_env({"ETMI_ID_KEY": KEY})
    assert settings.id_key == KEY and KEY not in repr(settings)
    with pytest.raises(ConfigError, match="ETMI_ID_KEY"):
        Settings(auth_mode="none", id_key="short").check()
    with pytest.raises(ValueError):
        MappingContext(b"short")
    assert KEY.encode() not in repr(MappingContext(KEY.encode())).encode()
