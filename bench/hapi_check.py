"""What HAPI holds for a batch of stored Patients, for the exactly-once checks of bench/scaleout.py and
bench/soak_check.py: searches sent as POST ``_search`` (long id lists do not fit a URL), following ``next``;
``exactly_once`` compares a whole database with HAPI (bench/scaleout.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from typing import Any

import requests

FHIR = {"Accept": "application/fhir+json"}


def search(session: requests.Session, url: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Every matching resource of a search (included ones left out), page after page."""
    response = session.post(f"{url}/_search", data=params, headers=FHIR, timeout=300)
    response.raise_for_status()
    page: dict[str, Any] = response.json()
    while True:
        yield from (entry["resource"] for entry in page.get("entry", [])
                    if entry.get("search", {}).get("mode", "match") == "match")
        link = next((lk["url"] for lk in page.get("link", []) if lk["relation"] == "next"), None)
        if link is None:
            return
        page = session.get(link, headers=FHIR, timeout=300).json()


def held_for(session: requests.Session, hapi: str, batch: list[Any],
             types: list[str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(local patient id, type, resource) for each HAPI Patient matching a stored one's identifier (a
    duplicate Patient comes twice) and each resource of ``types`` whose subject/patient is one of them.
    ``batch`` rows are (local id, identifier system, identifier value)."""
    local_of = {(row[1], row[2]): row[0] for row in batch}
    remote_to_local: dict[str, str] = {}
    wanted = ",".join(f"{system}|{value}" for _, system, value in batch)
    for patient in search(session, f"{hapi}/Patient", {"identifier": wanted, "_count": "1000"}):
        local = next((local_of[(i.get("system"), i.get("value"))] for i in patient.get("identifier", [])
                      if (i.get("system"), i.get("value")) in local_of), None)
        if local is not None:
            remote_to_local[patient["id"]] = local
            yield local, "Patient", patient
    ids = ",".join(f"Patient/{rid}" for rid in remote_to_local)
    for rtype in types if ids else []:
        for resource in search(session, f"{hapi}/{rtype}", {"patient": ids, "_count": "1000"}):
            ref = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
            local = remote_to_local.get(ref.rpartition("Patient/")[2])
            if local is not None:
                yield local, rtype, resource


def goal_state(goal: dict[str, Any]) -> tuple[Any, ...]:
    """What a Goal edit changes: its lifecycle status and target values."""
    values = [t.get("detailQuantity", {}).get("value") for t in goal.get("target", [])]
    return goal.get("lifecycleStatus"), [None if v is None else float(v) for v in values]


def _remote(hapi: str, batch: list[Any], types: list[str]) -> tuple[dict[tuple[str, str], int], dict[str, set[Any]]]:
    """Per (local patient, type) how many resources HAPI holds for up to 40 stored Patients (a duplicate
    Patient counts as one more Patient), and the states of their Goals."""
    counts: dict[tuple[str, str], int] = {}
    goals: dict[str, set[Any]] = {}
    for local, rtype, resource in held_for(requests.Session(), hapi, batch, types):
        counts[(local, rtype)] = counts.get((local, rtype), 0) + 1
        if rtype == "Goal":
            goals.setdefault(local, set()).add(repr(goal_state(resource)))
    return counts, goals


def exactly_once(database: str, hapi: str) -> dict[str, Any]:
    """Every Patient stored in ``database`` once on HAPI, and for each the database's count of each resource
    type (current rows of ``fhir_resource``), found by searching each type for 40 patients at a time: the
    resources missing on HAPI and those there more often than stored, with the first few (patient, type)
    pairs of each for the diagnosis; and the patients whose Goal on HAPI is not the stored one (stale)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database)
    with engine.connect() as conn:
        patients = list(conn.execute(text("SELECT id, identifier_system, identifier_value FROM patient")).all())
        expected = {(pid, rtype): count for pid, rtype, count in conn.execute(text(
            "SELECT patient_id, resource_type, count(*) FROM fhir_resource WHERE current GROUP BY 1, 2"))}
        stored: dict[str, set[str]] = {}
        for pid, goal in conn.execute(text(
                "SELECT patient_id, resource FROM fhir_resource WHERE current AND resource_type = 'Goal'")):
            stored.setdefault(pid, set()).add(repr(goal_state(json.loads(goal) if isinstance(goal, str) else goal)))
    engine.dispose()
    types = sorted({rtype for _, rtype in expected} - {"Patient"})
    batches = [patients[i:i + 40] for i in range(0, len(patients), 40)]
    found: dict[tuple[str, str], int] = {}
    stale: list[str] = []  # a patient whose Goal on HAPI is not the stored one (an edit lost or sent out of order)
    with ThreadPoolExecutor(2) as pool:
        for counts, goals in pool.map(lambda batch: _remote(hapi, batch, types), batches):
            found.update(counts)
            stale += [pid for pid, states in goals.items() if states != stored.get(pid)]
    missing = {key: n - found.get(key, 0) for key, n in expected.items() if found.get(key, 0) < n}
    twice = {key: found[key] - expected.get(key, 0) for key in found if found[key] > expected.get(key, 0)}
    return {"patients": len(patients), "resources": sum(expected.values()),
            "missing": sum(missing.values()), "duplicates": sum(twice.values()),
            "missing_at": sorted(missing)[:5], "duplicates_at": sorted(twice)[:5],
            "stale_goals": len(stale), "stale_goals_at": sorted(stale)[:5]}


def evidence(database: str, logs: Path) -> float:
    """Keep the outbox rows (without their resources) and the id map in ``logs/outbox.json``, beside the
    workers' logs: who sent what, after how many attempts, and the ids HAPI gave (to trace a duplicate or a
    loss). Returns when the last row was finished (its ``updated_at``, naive UTC), as a Unix time."""
    import orjson
    from sqlalchemy import create_engine, text

    engine = create_engine(database)
    with engine.connect() as conn:
        outbox = [dict(r._mapping) for r in conn.execute(text(
            "SELECT id, patient_key, target, resource_type, local_id, operation, status, attempts, claimed_by,"
            " last_error, remote_ids, created_at, updated_at FROM outbox ORDER BY id"))]
        id_map = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM id_map"))]
    engine.dispose()
    (logs / "outbox.json").write_bytes(orjson.dumps({"outbox": outbox, "id_map": id_map}, default=str))
    return float(max(row["updated_at"] for row in outbox).replace(tzinfo=UTC).timestamp())
