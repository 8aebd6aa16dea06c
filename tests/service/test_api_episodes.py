"""``/api/v1/episodes``: mapping + validation on every write, durability, outbox, idempotency."""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from service.store.models import AuditRow, DomainRecord, FhirResourceRow
from tests.service.conftest import outcome_of


def _counts(app: Flask) -> tuple[int, int, dict[str, int]]:
    store = app.extensions["etmi"].store
    with store.sessions() as session:
        records = session.scalar(select(func.count()).select_from(DomainRecord)) or 0
        resources = session.scalar(select(func.count()).select_from(FhirResourceRow)) or 0
    return records, resources, store.outbox.counts()


def test_post_episode_stores_resources_and_one_outbox_entry(app: Flask, client: FlaskClient,
                                                            episode: dict[str, Any]) -> None:
    response = client.post("/api/v1/episodes", json=episode)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["outcome"] == "created" and body["version"] == 1
    assert response.headers["Location"] == "/api/v1/episodes/EP-2026-0001"
    assert response.headers["ETag"] == 'W/"1"'
    records, resources, outbox = _counts(app)
    assert records == 1 and resources == len(body["resources"]) and outbox == {"pending": 1}
    [entry] = app.extensions["etmi"].store.outbox.claim(5, "t", 30)
    assert entry.operation == "transaction" and entry.resource["type"] == "transaction"
    assert len(entry.resource["entry"]) == len(body["resources"])
    with app.extensions["etmi"].store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditRow)) == len(body["resources"])


def test_retried_post_never_duplicates(app: Flask, client: FlaskClient, episode: dict[str, Any]) -> None:
    first = client.post("/api/v1/episodes", json=episode)
    again = client.post("/api/v1/episodes", json=episode)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["outcome"] == "unchanged" and again.get_json()["outbox_id"] is None
    assert _counts(app)[0] == 1 and _counts(app)[2] == {"pending": 1}


def test_idempotency_key_replays_the_first_answer(app: Flask, client: FlaskClient, episode: dict[str, Any]) -> None:
    headers = {"Idempotency-Key": "k-123"}
    first = client.post("/api/v1/episodes", json=episode, headers=headers)
    again = client.post("/api/v1/episodes", json=episode, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    changed = dict(episode, status="active")
    outcome_of(client.post("/api/v1/episodes", json=changed, headers=headers), 409)
    assert _counts(app)[2] == {"pending": 1}


def test_post_of_an_existing_episode_with_other_content_is_409(client: FlaskClient, episode: dict[str, Any]) -> None:
    client.post("/api/v1/episodes", json=episode)
    body = outcome_of(client.post("/api/v1/episodes", json=dict(episode, status="active")), 409)
    assert body["issue"][0]["code"] == "conflict"


def test_put_replaces_with_if_match_and_412_on_a_stale_version(app: Flask, client: FlaskClient,
                                                               episode: dict[str, Any]) -> None:
    client.post("/api/v1/episodes", json=episode)
    changed = copy.deepcopy(episode)
    changed["goals"][0].update(lifecycle_status="active", achievement_status="in-progress")
    ok = client.put("/api/v1/episodes/EP-2026-0001", json=changed, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200 and ok.get_json()["version"] == 2 and ok.get_json()["outcome"] == "updated"
    changed_refs = [r["reference"].split("/")[0] for r in ok.get_json()["resources"] if r["changed"]]
    assert changed_refs == ["Goal"]
    outcome_of(client.put("/api/v1/episodes/EP-2026-0001", json=episode, headers={"If-Match": 'W/"1"'}), 412)
    assert _counts(app)[2] == {"pending": 2}
    got = client.get("/api/v1/episodes/EP-2026-0001")
    assert got.headers["ETag"] == 'W/"2"' and got.get_json()["episode"] == changed


def test_put_of_an_unknown_episode_is_404(client: FlaskClient, episode: dict[str, Any]) -> None:
    outcome_of(client.put("/api/v1/episodes/EP-2026-0001", json=episode), 404)
    outcome_of(client.get("/api/v1/episodes/nope"), 404)


def test_rejected_write_is_422_with_every_issue_and_stores_nothing(app: Flask, client: FlaskClient,
                                                                   episode: dict[str, Any]) -> None:
    episode["start"] = "2026-13-01"
    episode["sessions"][1]["performed"] = "last tuesday"
    episode["sessions"][0]["number"] = "one"
    body = outcome_of(client.post("/api/v1/episodes", json=episode), 422)
    expressions = {i["expression"][0] for i in body["issue"]}
    assert {"start", "sessions[1].performed", "sessions[0].number"} <= expressions
    assert all(i.get("expression") for i in body["issue"])
    assert _counts(app) == (0, 0, {})


def test_mapping_and_profile_issues_are_422(app: Flask, client: FlaskClient, episode: dict[str, Any]) -> None:
    episode["responses"][0]["answers"]["not.an.item"] = 3
    episode["scores"][0]["value"] = 170
    body = outcome_of(client.post("/api/v1/episodes", json=episode), 422)
    expressions = " ".join(i["expression"][0] for i in body["issue"])
    assert "not.an.item" in expressions and "scores[0]" in expressions
    assert _counts(app) == (0, 0, {})


def test_malformed_requests_are_400(client: FlaskClient, episode: dict[str, Any]) -> None:
    outcome_of(client.post("/api/v1/episodes", data="{not json", content_type="application/json"), 400)
    outcome_of(client.post("/api/v1/episodes", data="x=1", content_type="application/x-www-form-urlencoded"), 400)
    outcome_of(client.post("/api/v1/episodes", data="", content_type="application/json"), 400)
    outcome_of(client.post("/api/v1/episodes", data=b"[" * (6 * 1024 * 1024), content_type="application/json"), 413)
    url = "/api/v1/episodes/EP-2026-0001"
    outcome_of(client.put(url, json=episode, headers={"If-Match": "nonsense"}), 400)


def test_unknown_route_and_method_are_operation_outcomes(client: FlaskClient) -> None:
    outcome_of(client.get("/api/v1/nothing-here"), 404)
    outcome_of(client.delete("/api/v1/episodes"), 405)


def test_openapi_31_and_docs_page(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    post = spec["paths"]["/api/v1/episodes"]["post"]
    assert "requestBody" in post and {"201", "422"} <= set(post["responses"])
    assert {"/api/v1/episodes/{episode_id}/goals/{goal_id}/status",
            "/api/v1/episodes/{episode_id}/outcome-scores/batch"} <= set(spec["paths"])
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger" in docs.data.lower()


def test_part_writes_need_a_json_body(client: FlaskClient, episode: dict[str, Any]) -> None:
    client.post("/api/v1/episodes", json=episode)
    outcome_of(client.post("/api/v1/episodes/EP-2026-0001/sessions", data="number=4"), 400)


def test_outbox_listing_and_replay(app: Flask, client: FlaskClient, episode: dict[str, Any]) -> None:
    client.post("/api/v1/episodes", json=episode)
    outbox = app.extensions["etmi"].store.outbox
    [entry] = outbox.claim(1, "w", 30)
    outbox.dead_letter(entry, {"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                                                                             "code": "invalid"}]})
    listed = client.get("/api/v1/outbox").get_json()
    assert listed["counts"] == {"dead": 1} and listed["entries"][0]["id"] == entry.id
    assert "resource" not in listed["entries"][0]
    assert client.post("/api/v1/outbox/replay", json={"ids": [entry.id]}).get_json() == {"replayed": 1}
    assert client.get("/api/v1/outbox?status=pending").get_json()["entries"][0]["attempts"] == 0
    outcome_of(client.get("/api/v1/outbox?status=lost"), 400)
    outcome_of(client.post("/api/v1/outbox/replay", json={"ids": []}), 422)


def test_concurrent_identical_posts_store_one_episode(app: Flask, episode: dict[str, Any]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def post(_: int) -> int:
        with app.test_client() as client:
            return int(client.post("/api/v1/episodes", json=episode).status_code)

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(post, range(4)))
    assert statuses == [200, 200, 200, 201]
    records, _, outbox = _counts(app)
    assert records == 1 and outbox == {"pending": 1}
