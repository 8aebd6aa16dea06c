"""What the store and app give the sync workers: outbox listing, cursors, conflicts, EHR edits, JWKS, and
the operators' ``sync status``/``sync replay`` per target."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mappings import canonical as c
from service.adapters.smart_auth import generate_private_key_pem
from service.app import create_app
from service.cli import main
from service.compose import remote_edits
from service.store import Store
from service.store.db import transaction
from service.store.outbox import enqueue
from service.sync.ports import Conflict
from service.sync.pull import hand_over
from tests.service.conftest import make_settings, outcome_of


def apply_edit(app: Flask, resource: dict[str, Any]) -> bool:
    """An EHR version handed to the app's episode use-case, mapped first (as a pull or a conflict does)."""
    return hand_over(remote_edits(app.extensions["etmi"]), "ehr", resource)


def test_cursors_and_conflicts(store: Store) -> None:
    state = store.sync_state
    assert state.get_cursor("ehr/Goal") is None
    state.set_cursor("ehr/Goal", "2026-01-01T00:00:00Z")
    state.set_cursor("ehr/Goal", "2026-02-01T00:00:00Z")
    assert state.get_cursor("ehr/Goal") == "2026-02-01T00:00:00Z"
    conflict = Conflict(target="ehr", resource_type="Goal", local_id="g1", remote_id="7", policy="ehr-wins",
                        resolution="took the EHR's version", status="held", at=datetime(2026, 3, 1, tzinfo=UTC),
                        local={"resourceType": "Goal"}, remote=None, detail="412")
    state.record_conflict(conflict)
    [held] = state.list_conflicts("held")
    assert held.local_id == "g1" and held.local == {"resourceType": "Goal"} and held.detail == "412"
    assert state.list_conflicts("resolved") == []
    assert state.apply_remote("ehr", None, {"resourceType": "Goal"}) is False  # nothing wired


def test_outbox_list_says_why(store: Store, app: Flask, client: FlaskClient, episode: dict[str, Any]) -> None:
    client.post("/api/v1/episodes", json=episode)
    outbox = app.extensions["etmi"].store.outbox
    [entry] = outbox.claim(1, "w", 30)
    outbox.mark_failed(entry, "503 Service Unavailable", datetime.now(UTC) + timedelta(days=1))
    [failed] = outbox.list("failed")
    assert failed.last_error == "503 Service Unavailable" and failed.outcome is None


def test_ehr_edits_of_goal_and_careplan_become_local_state(app: Flask, client: FlaskClient,
                                                           episode: dict[str, Any]) -> None:
    client.post("/api/v1/episodes", json=episode)
    store = app.extensions["etmi"].store
    goal = client.get("/fhir/Goal").get_json(force=True)["entry"][0]["resource"]
    edited = copy.deepcopy(goal)
    edited["target"][0]["detailQuantity"]["value"] = 90
    edited["lifecycleStatus"] = "active"
    edited["achievementStatus"]["coding"][0].update(code="in-progress", display="In Progress")
    assert apply_edit(app, edited) is True
    stored = client.get("/api/v1/episodes/EP-2026-0001").get_json()
    assert stored["version"] == 2
    assert stored["episode"]["goals"][0]["target_minutes_per_week"] == 90
    assert client.get(f"/fhir/Goal/{goal['id']}").get_json(force=True)["meta"]["versionId"] == "2"
    assert store.outbox.counts() == {"pending": 1}  # the edit came from the EHR: nothing to send back
    plan = client.get("/fhir/CarePlan").get_json(force=True)["entry"][0]["resource"]
    assert apply_edit(app, dict(plan, status="revoked")) is True
    assert client.get("/api/v1/episodes/EP-2026-0001").get_json()["episode"]["status"] == "revoked"
    unknown = copy.deepcopy(edited)
    unknown["identifier"][0]["value"] = "EP-NONE/goal/x"
    assert apply_edit(app, unknown) is False
    assert apply_edit(app, {"resourceType": "Goal"}) is False


def activity_status(plan: dict[str, Any], code: str) -> str:
    [status] = [a["detail"]["status"] for a in plan["activity"] if a["detail"]["code"]["coding"][0]["code"] == code]
    return str(status)


def test_activity_status_chosen_in_the_ehr_is_kept_and_sent_back(app: Flask, client: FlaskClient,
                                                                 episode: dict[str, Any]) -> None:
    episode["status"], episode["sessions"] = "active", episode["sessions"][:1]
    episode.pop("end")
    client.post("/api/v1/episodes", json=episode)
    store = app.extensions["etmi"].store
    plan = client.get("/fhir/CarePlan").get_json(force=True)["entry"][0]["resource"]
    walk = c.INTERVENTION_BRISK_WALK
    assert activity_status(plan, walk) == "completed"
    edited = copy.deepcopy(plan)
    for act in edited["activity"]:
        if act["detail"]["code"]["coding"][0]["code"] == walk:
            act["detail"]["status"] = "on-hold"
    assert apply_edit(app, edited) is True
    stored = client.get("/api/v1/episodes/EP-2026-0001").get_json()["episode"]
    assert stored["activity_statuses"] == {"brisk-walk-exposure": "on-hold"}

    # a later session that delivers brisk walking does not undo the clinician's choice, locally or on the EHR
    session = {"number": 2, "performed": "2026-01-19T09:30:00+02:00", "etmi_delivered": True,
               "components": ["brisk-walk-exposure", "goal-setting"]}
    assert client.post("/api/v1/episodes/EP-2026-0001/sessions", json=session).status_code == 200
    plan = client.get("/fhir/CarePlan").get_json(force=True)["entry"][0]["resource"]
    assert activity_status(plan, walk) == "on-hold"
    assert activity_status(plan, "304558001") == "completed"  # reassurance still follows the sessions
    newest = max(store.outbox.list("pending"), key=lambda e: e.id).resource
    [sent] = [e["resource"] for e in newest["entry"] if e["resource"]["resourceType"] == "CarePlan"]
    assert activity_status(sent, walk) == "on-hold"

    # the EHR setting it back to what the sessions give ends the choice
    for act in plan["activity"]:
        act["detail"]["status"] = "completed" if act["detail"]["code"]["coding"][0]["code"] == walk \
            else act["detail"]["status"]
    assert apply_edit(app, plan) is True
    assert "activity_statuses" not in client.get("/api/v1/episodes/EP-2026-0001").get_json()["episode"]


def test_public_jwks_from_settings_or_targets(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'e.db'}"
    none = create_app(make_settings(db))
    outcome_of(none.test_client().get("/.well-known/jwks.json"), 404)
    none.extensions["etmi"].store.close()
    key = tmp_path / "key.pem"
    key.write_text(generate_private_key_pem("ES384"))
    targets = {"targets": {"ehr": {"base_url": "https://ehr.example/fhir", "auth": {
        "kind": "smart-backend", "client_id": "etmi", "token_url": "https://ehr.example/token",
        "private_key_file": str(key), "kid": "k1", "alg": "ES384"}}}}
    app = create_app(make_settings(db, sync_targets=json.dumps(targets)))
    [jwk] = app.test_client().get("/.well-known/jwks.json").get_json()["keys"]
    assert jwk["kid"] == "k1" and jwk["kty"] == "EC" and "d" not in jwk
    app.extensions["etmi"].store.close()


def test_sync_status_and_replay_per_target(store: Store, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with transaction(store.sessions) as session:
        for patient, targets in (("p1", ["a", "b"]), ("p2", [])):
            enqueue(session, patient_key=patient, resource_type="Goal", local_id="g1", operation="create",
                    resource={"resourceType": "Goal"}, targets=targets)
    a1, b1, every = store.outbox.claim(10, "w", 60)
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found",
                                                              "diagnostics": "target a is not configured"}]}
    assert store.outbox.dead_letter(a1, outcome) and store.outbox.dead_letter(every, outcome)
    assert store.outbox.mark_sent(b1, {})
    common = ["--database-url", database_url]
    assert main(["sync", "status", "--json", *common]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["by_target"] == {"*": {"dead": 1}, "a": {"dead": 1}, "b": {"sent": 1}}
    assert [e["target"] for e in status["dead"]] == ["a", None]
    assert main(["sync", "status", *common]) == 0
    text = capsys.readouterr().out
    assert "  target a: dead=1" in text and f"dead      #{a1.id} target=a patient=p1" in text
    assert main(["sync", "replay", "--target", "a", *common]) == 2
    assert main(["sync", "replay", "--all-dead", "--target", "a", *common]) == 0
    assert "requeued 1 of 1" in capsys.readouterr().out
    assert store.outbox.counts_by_target() == {None: {"dead": 1}, "a": {"pending": 1}, "b": {"sent": 1}}
