"""Cross-patient matrix of ``/api/v1``: tokens for patient A (``patient/*.cruds``), patient B (the same),
``user/CarePlan.rs`` and ``system/*.rs`` against every route and method: what each may see or change.

The decisions come from the stored records: B's token never reads or changes A's episode, whatever its
payload says (the old PUT moved B's episode to A with a payload naming A), and it is answered exactly
as for an episode that does not exist. The outbox and the audit trail are for operators.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from mappings import canonical as c
from service.store.db import transaction
from service.store.outbox import enqueue
from tests.service.authz_world import World, build_world

WHO = ("patient_a", "patient_b", "user_careplan", "system")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from build_world(tmp_path_factory.mktemp("matrix-api"))


def item_writes(episode: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(method, path under the episode, body) of every part-write route; each body is already stored
    (an idempotent no-op) but the stage of change, which is new once."""
    goal, score = episode["goals"][0], episode["scores"][0]
    answers = {**episode["responses"][0], "questionnaire": f"{c.ETMI_Q_INTAKE}|{c.QUESTIONNAIRE_VERSION}"}
    return [
        ("POST", "sessions", episode["sessions"][0]),
        ("POST", "questionnaire-responses", answers),
        ("POST", "goals", goal),
        ("PUT", f"goals/{goal['goal_id']}", goal),
        ("PUT", f"goals/{goal['goal_id']}/status", {k: goal[k] for k in ("lifecycle_status", "achievement_status")}),
        ("POST", "outcome-scores", score),
        ("POST", "outcome-scores/batch", {"scores": [score]}),
        ("POST", "stage-of-change", {"score_id": "stage-matrix", "stage": "action", "effective": score["effective"]}),
    ]


def state(world: World, name: str) -> tuple[int, str, dict[str, int]]:
    """Episode ``name``'s version and patient, and the outbox counts (read as the system)."""
    body = world.get(f"/api/v1/episodes/{world.episodes[name]['episode_id']}", "system").get_json()
    return body["version"], body["patient_id"], world.app.extensions["etmi"].store.outbox.counts()


def assert_like_missing(denied: Any, missing: Any, denied_id: str, missing_id: str = "EP-NOPE") -> None:
    assert (denied.status_code, missing.status_code) == (404, 404), denied.get_data(as_text=True)
    d_issue, m_issue = denied.get_json(force=True)["issue"][0], missing.get_json(force=True)["issue"][0]
    assert d_issue["code"] == m_issue["code"] and d_issue["diagnostics"].replace(denied_id, "?") == \
        m_issue["diagnostics"].replace(missing_id, "?")


@pytest.mark.parametrize("who", WHO)
def test_get_episode(world: World, who: str) -> None:
    a_id = world.episodes["A"]["episode_id"]
    response = world.get(f"/api/v1/episodes/{a_id}", who)
    expected = {"patient_a": 200, "patient_b": 404, "user_careplan": 403, "system": 200}[who]
    assert response.status_code == expected, response.get_data(as_text=True)
    if who == "patient_b":
        assert_like_missing(response, world.get("/api/v1/episodes/EP-NOPE", who), a_id)


@pytest.mark.parametrize("who", WHO)
def test_part_writes(world: World, who: str) -> None:
    a_id, b_id = (world.episodes[n]["episode_id"] for n in ("A", "B"))
    for method, path, body in item_writes(world.episodes["A"]):
        mine = world.send(method, f"/api/v1/episodes/{a_id}/{path}", who, body)
        expected = {"patient_a": 200, "patient_b": 404}.get(who, 403)
        assert mine.status_code == expected, (path, mine.get_data(as_text=True))
        if who == "patient_b":
            missing = world.send(method, f"/api/v1/episodes/EP-NOPE/{path}", who, body)
            assert_like_missing(mine, missing, a_id)
        if who == "patient_a":  # and A's token on B's episode: as if it did not exist
            assert_like_missing(world.send(method, f"/api/v1/episodes/{b_id}/{path}", who, body),
                                world.send(method, f"/api/v1/episodes/EP-NOPE/{path}", who, body), b_id)


def test_patient_token_cannot_take_over_another_patients_episode(world: World) -> None:
    """The reported attack: A's ``patient/*.cruds`` token PUTs B's episode with a payload naming A."""
    b = world.episodes["B"]
    hijack = {**copy.deepcopy(b), "patient": world.episodes["A"]["patient"]}
    before = state(world, "B")
    response = world.send("PUT", f"/api/v1/episodes/{b['episode_id']}", "patient_a", hijack)
    missing = world.send("PUT", "/api/v1/episodes/EP-NOPE", "patient_a", {**hijack, "episode_id": "EP-NOPE"})
    assert_like_missing(response, missing, b["episode_id"])
    assert state(world, "B") == before, "nothing stored, no outbox entry"
    assert state(world, "B")[1] == world.patients["B"]
    trail = world.get(f"/api/v1/audit?outcome=4&patient={world.patients['B']}", "system").get_json()["entries"]
    assert any(e["actor"] == "sub-patient_a" and e["action"] == "update" for e in trail)


@pytest.mark.parametrize("who", WHO)
def test_put_episode(world: World, who: str) -> None:
    a = world.episodes["A"]
    response = world.send("PUT", f"/api/v1/episodes/{a['episode_id']}", who, a)
    assert response.status_code == {"patient_a": 200, "patient_b": 404}.get(who, 403), response.get_data(as_text=True)


def test_no_write_moves_an_episode_to_another_patient(world: World) -> None:
    a = world.episodes["A"]
    moved = {**copy.deepcopy(a), "patient": world.episodes["B"]["patient"]}
    before = state(world, "A")
    for who in ("patient_a", "writer"):
        response = world.send("PUT", f"/api/v1/episodes/{a['episode_id']}", who, moved)
        assert response.status_code == 409 and response.get_json(force=True)["issue"][0]["expression"] == ["patient"]
    assert state(world, "A") == before


def test_patient_token_creates_no_episode(world: World) -> None:
    new = {**copy.deepcopy(world.episodes["A"]), "episode_id": "EP-MATRIX-NEW"}
    taken = {**copy.deepcopy(world.episodes["A"]), "episode_id": world.episodes["B"]["episode_id"]}
    fresh, other = (world.send("POST", "/api/v1/episodes", "patient_a", body) for body in (new, taken))
    assert (fresh.status_code, other.status_code) == (403, 403)
    assert fresh.get_json(force=True)["issue"] == other.get_json(force=True)["issue"]  # B's id is not revealed


@pytest.mark.parametrize("who", WHO)
def test_patients(world: World, who: str) -> None:
    b_id = world.patients["B"]
    response = world.get(f"/api/v1/patients/{b_id}", who)
    assert response.status_code == {"patient_a": 404, "patient_b": 200, "user_careplan": 403}.get(who, 200)
    if who == "patient_a":
        missing = world.get("/api/v1/patients/no-such-patient", who)
        assert_like_missing(response, missing, b_id, "no-such-patient")
    registered = world.send("POST", "/api/v1/patients", who, world.episodes["B"]["patient"])
    assert registered.status_code == {"patient_b": 200}.get(who, 403), registered.get_data(as_text=True)


@pytest.mark.parametrize("who", [*WHO, "writer"])
def test_outbox_is_for_operators_and_shows_no_diagnostics(world: World, who: str) -> None:
    store = world.app.extensions["etmi"].store
    with transaction(store.sessions) as session:
        [row] = enqueue(session, patient_key=world.patients["A"], resource_type="Bundle", local_id="x",
                        operation="transaction", resource={"resourceType": "Bundle"})
        session.flush()
        row.status = "dead"
        row.outcome = {"resourceType": "OperationOutcome", "issue": [{
            "severity": "error", "code": "duplicate", "expression": ["Patient.identifier"],
            "diagnostics": "Patient with identifier P-000123 already exists"}]}
    listing = world.get("/api/v1/outbox", who)
    replay = world.send("POST", "/api/v1/outbox/replay", who, {"ids": [row.id]})
    if who in ("system", "writer"):
        assert listing.status_code == 200
        [entry] = [e for e in listing.get_json()["entries"] if e["id"] == row.id]
        assert entry["outcome"]["issue"] == [{"severity": "error", "code": "duplicate",
                                              "expression": ["Patient.identifier"]}]
        assert "P-000123" not in listing.get_data(as_text=True)
    else:
        assert listing.status_code == 403
    assert replay.status_code == (200 if who == "writer" else 403)


@pytest.mark.parametrize("who", [*WHO, "writer"])
def test_audit_trail_is_for_system_scopes_and_records_reads_and_denials(world: World, who: str) -> None:
    a_id = world.episodes["A"]["episode_id"]
    world.get(f"/api/v1/episodes/{a_id}", "patient_a")
    world.get(f"/api/v1/episodes/{a_id}", "patient_b")
    response = world.get(f"/api/v1/audit?patient={world.patients['A']}&_count=1000", who)
    assert response.status_code == (200 if who == "system" else 403)
    if who == "system":
        seen = {(e["actor"], e["action"], e["outcome"]) for e in response.get_json()["entries"]}
        assert {("sub-patient_a", "read", "0"), ("sub-patient_b", "read", "4"), ("sub-writer", "create", "0")} <= seen
        event = world.get(response.get_json()["entries"][0]["audit_event"].join(["/fhir/", ""]), "system")
        assert event.status_code == 200 and event.get_json(force=True)["resourceType"] == "AuditEvent"


def test_an_idempotency_key_replays_nothing_to_another_patient(world: World) -> None:
    """The same subject, key and path under a token for another patient: decided before any replay."""
    a_id, score = world.episodes["A"]["episode_id"], world.episodes["A"]["scores"][0]
    key = {"Idempotency-Key": "matrix-key-1"}
    url = f"/api/v1/episodes/{a_id}/outcome-scores"
    as_a = world.issuer.token("patient/*.cruds", world.patients["A"], sub="same-user")
    as_b = world.issuer.token("patient/*.cruds", world.patients["B"], sub="same-user")
    first = world.client.post(url, json=score, headers={**key, "Authorization": f"Bearer {as_a}"})
    again = world.client.post(url, json=score, headers={**key, "Authorization": f"Bearer {as_b}"})
    assert (first.status_code, again.status_code) == (200, 404)
