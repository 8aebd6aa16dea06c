"""The SQL round trips of one episode write are a fixed handful, whatever the episode holds (counted with
SQLAlchemy's cursor events, not timed): one lookup of the current versions for every resource type, and one
insert per table for the resource versions, their search tokens and their audit rows (bench/profiles/ingest.md)."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from tests.sync.support import unique_episode

#: Besides the lookup of current versions: BEGIN, episode lock, idempotency lookup, patient lookup + insert,
#: resources, tokens, episode, outbox, audit, idempotency reply; a replace adds the update of the replaced
#: versions and the delete of their tokens (no patient insert).
CREATE_BOUND = 11
REPLACE_BOUND = 13


@contextmanager
def statements(app: Flask) -> Iterator[Counter[str]]:
    """Each statement sent to the database while the block runs (an ``executemany`` counts once)."""
    seen: Counter[str] = Counter()

    def keep(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        if words[0] == "SELECT" and "FROM fhir_resource" in statement:
            seen["SELECT fhir_resource"] += 1
        else:
            seen[" ".join(words[:3]) if words[0] in ("INSERT", "UPDATE", "DELETE") else words[0]] += 1

    engine = app.extensions["etmi"].store.engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def _post(client: FlaskClient, payload: dict[str, Any], key: str) -> dict[str, Any]:
    response = client.post("/api/v1/episodes", json=payload, headers={"Idempotency-Key": key})
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def test_an_episode_write_is_a_fixed_number_of_statements(app: Flask, client: FlaskClient,
                                                          episode: dict[str, Any]) -> None:
    _post(client, unique_episode(0, seed=11), "perf-first")  # the first write also mints the id key
    with statements(app) as small:
        small_body = _post(client, episode, "perf-small")
    bigger = unique_episode(3, seed=11)
    with statements(app) as large:
        large_body = _post(client, bigger, "perf-large")
    sizes = len(small_body["resources"]), len(large_body["resources"])
    types = {r["reference"].split("/")[0] for r in large_body["resources"]}
    assert sizes[1] > sizes[0] and len(types) >= 5, (sizes, types)
    for seen in (small, large):
        assert sum(seen.values()) - seen["SELECT fhir_resource"] <= CREATE_BOUND, seen
        assert seen["SELECT fhir_resource"] == 1, seen  # one lookup for every type (was one per type)
        for table in ("fhir_resource", "search_token", "audit", "outbox", "idempotency"):
            assert seen[f"INSERT INTO {table}"] == 1, (table, seen)
    assert sum(small.values()) == sum(large.values()), (small, large)


def test_a_replace_adds_only_the_update_of_the_replaced_versions(app: Flask, client: FlaskClient,
                                                                 episode: dict[str, Any]) -> None:
    created = _post(client, episode, "perf-create")
    changed = copy.deepcopy(episode)
    changed["goals"][0]["description"] = "Brisk walking 160 minutes per week"
    with statements(app) as seen:
        response = client.put(f"/api/v1/episodes/{episode['episode_id']}", json=changed,
                              headers={"If-Match": 'W/"1"'})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    replaced = [r for r in body["resources"] if r["changed"]]
    assert replaced and len(replaced) < len(created["resources"]), body
    assert all(r["version"] == 2 for r in replaced), replaced
    assert sum(seen.values()) - seen["SELECT fhir_resource"] <= REPLACE_BOUND, seen
    assert seen["SELECT fhir_resource"] == 1 and seen["UPDATE fhir_resource SET"] == 1, seen
    assert seen["INSERT INTO fhir_resource"] == 1 and seen["INSERT INTO audit"] == 1, seen
