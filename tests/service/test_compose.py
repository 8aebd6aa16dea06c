"""``service.compose`` gives the sync commands what it gives the web app: the validator reads the
settings' R4 definitions (not the checkout's ``.cache``), and pulled EHR edits reach the episodes."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service import compose
from service.adapters.file_state import FileSyncState
from service.app import create_app
from service.config import Settings
from service.episodes.remote import RemoteEdits
from service.store import SyncState
from tests.service.conftest import make_settings


@pytest.fixture
def edited_goal(tmp_path: Path, episode: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """A database holding the example episode, and its Goal as an EHR would send it back edited."""
    database = f"sqlite:///{tmp_path / 'etmi.db'}"
    app = create_app(make_settings(database))
    client = app.test_client()
    assert client.post("/api/v1/episodes", json=episode).status_code == 201
    goal = copy.deepcopy(client.get("/fhir/Goal").get_json(force=True)["entry"][0]["resource"])
    goal["target"][0]["detailQuantity"]["value"] = 90
    app.extensions["etmi"].store.close()
    yield database, goal
    compose.configure_validator(Settings())  # the other tests' validator: the checkout's definitions


def stored_goal(database: str) -> dict[str, Any]:
    app = create_app(make_settings(database))
    try:
        body = app.test_client().get("/api/v1/episodes/EP-2026-0001").get_json()
    finally:
        app.extensions["etmi"].store.close()
    goal: dict[str, Any] = body["episode"]["goals"][0]
    return goal


def test_the_sync_runtime_validates_with_the_settings_definitions(
    tmp_path: Path, edited_goal: tuple[str, dict[str, Any]],
) -> None:
    database, goal = edited_goal
    elsewhere = compose.sync_runtime(make_settings(database, r4_definitions=tmp_path / "no-r4-here"), [])
    try:  # the edit is validated against the (missing) definitions the settings name: refused
        assert isinstance(elsewhere.state, SyncState) and isinstance(elsewhere.edits, RemoteEdits)
        assert elsewhere.state.apply_remote("ehr", None, goal) is False
    finally:
        elsewhere.store.close()
    runtime = compose.sync_runtime(make_settings(database), [])
    try:  # the Puller and the sync state are given the episode use-case when built, nothing patched on later
        assert runtime.puller().edits is runtime.edits and isinstance(runtime.edits, RemoteEdits)
        assert not hasattr(runtime.store.sync_state, "apply")
        assert runtime.state.apply_remote("ehr", None, goal) is True
    finally:
        runtime.store.close()
    assert stored_goal(database)["target_minutes_per_week"] == 90


def test_a_state_file_keeps_cursors_only(tmp_path: Path, edited_goal: tuple[str, dict[str, Any]]) -> None:
    database, goal = edited_goal
    runtime = compose.sync_runtime(make_settings(database), [], state_file=str(tmp_path / "state.json"))
    try:
        assert isinstance(runtime.state, FileSyncState) and runtime.edits is runtime.state
        assert runtime.state.apply_remote("ehr", None, goal) is False
    finally:
        runtime.store.close()
    assert stored_goal(database)["target_minutes_per_week"] != 90
