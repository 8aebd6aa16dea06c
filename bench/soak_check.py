"""The end-of-soak check (bench/soak.py): every accepted record stored, and on HAPI exactly once.

From the database: the run's patients (their identifiers are unique to the run: HAPI is shared), the count of
current resources per patient and type, the current Goals, the outbox. From HAPI: each patient found by
identifier (a second copy counts as a duplicate), each type searched by patient (40 patients at a time),
the Provenance naming any of those resources (POST ``_search`` by target): every resource named by one, and per
patient at most one per sent outbox entry (HAPI takes a whole transaction in one chunk; a patient's entries
claimed together share one; a re-sent chunk updates its Provenance instead of adding one).
"""

from __future__ import annotations

import json
import statistics
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from hapi_check import held_for, search
from sqlalchemy import create_engine, text


def counts(database: str) -> dict[str, int]:
    """Outbox entries per status."""
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            return {s: n for s, n in conn.execute(text("SELECT status, count(*) FROM outbox GROUP BY status"))}
    finally:
        engine.dispose()


def _remote(hapi: str, batch: list[Any], types: list[str]) -> dict[str, Any]:
    """For up to 40 stored Patients: per (local patient, type) how many resources HAPI holds, their Goals,
    and the ids of the Provenance resources naming any of them."""
    session, found = requests.Session(), dict[tuple[str, str], int]()
    refs: dict[str, str] = {}  # remote reference -> local patient
    goals: dict[str, list[dict[str, Any]]] = {}
    for local, rtype, resource in held_for(session, hapi, batch, types):
        found[(local, rtype)] = found.get((local, rtype), 0) + 1
        refs[f"{rtype}/{resource['id']}"] = local
        if rtype == "Goal":
            goals.setdefault(local, []).append(resource)
    covers: dict[str, set[str]] = {}  # Provenance id -> the run's references it names
    listed = list(refs)
    for i in range(0, len(listed), 200):
        params = {"target": ",".join(listed[i:i + 200]), "_count": "1000", "_elements": "target"}
        for prov in search(session, f"{hapi}/Provenance", params):
            named = {t.get("reference", "").split("/_history")[0] for t in prov.get("target", [])}
            covers[prov["id"]] = named & set(refs)
    per_patient: dict[str, int] = {}
    for named in covers.values():
        for local in {refs[r] for r in named}:
            per_patient[local] = per_patient.get(local, 0) + 1
    uncovered = len(set(refs) - set().union(*covers.values()))
    provenance = {"count": len(covers), "per_patient": per_patient, "uncovered": uncovered}
    return {"found": found, "goals": goals, "provenance": provenance}


def _goal_state(goal: dict[str, Any]) -> tuple[Any, ...]:
    values = [t.get("detailQuantity", {}).get("value") for t in goal.get("target", [])]
    values = [None if v is None else float(v) for v in values]
    return goal.get("lifecycleStatus"), values


def _json(value: Any) -> Any:
    """A JSON column as read by a text query: a string on SQLite, already parsed on PostgreSQL."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def _stored(database: str) -> dict[str, Any]:
    engine = create_engine(database)
    with engine.connect() as conn:
        out = {
            "patients": [tuple(r) for r in conn.execute(text(
                "SELECT id, identifier_system, identifier_value FROM patient"))],
            "expected": {(p, t): n for p, t, n in conn.execute(text(
                "SELECT patient_id, resource_type, count(*) FROM fhir_resource WHERE current GROUP BY 1, 2"))},
            "goals": {p: _json(r) for p, r in conn.execute(text(
                "SELECT patient_id, resource FROM fhir_resource WHERE current AND resource_type = 'Goal'"))},
            "episodes": {b: _json(d) for b, d in conn.execute(text(
                "SELECT business_id, data FROM domain_record WHERE kind = 'episode'"))},
            "outbox": {s: n for s, n in conn.execute(text("SELECT status, count(*) FROM outbox GROUP BY status"))},
            "sent_per_patient": {p: n for p, n in conn.execute(text(
                "SELECT patient_key, count(*) FROM outbox WHERE status = 'sent' GROUP BY patient_key"))},
        }
    engine.dispose()
    return out


def check(database: str, hapi: str, log: list[dict[str, Any]]) -> dict[str, Any]:
    """Accepted (the load's log) -> stored (the database) -> on HAPI exactly once (and Goals as last accepted)."""
    db = _stored(database)
    values = {row[2] for row in db["patients"]}
    accepted = [line for line in log if line["status"] in (200, 201)]
    lost = sum(1 for line in accepted if line["kind"] == "episode" and line["patient"] not in values)
    last_goal = {line["episode"]: line["goal"] for line in accepted}
    stale_db = 0
    for episode, goal in last_goal.items():
        stored = (db["episodes"].get(episode) or {}).get("goals", [{}])[0]
        stale_db += any(stored.get(k) != v for k, v in goal.items())
    types = sorted({t for _, t in db["expected"]} - {"Patient"})
    batches = [db["patients"][i:i + 40] for i in range(0, len(db["patients"]), 40)]
    found: dict[tuple[str, str], int] = {}
    provenance, per_patient, uncovered = 0, dict[str, int](), 0
    stale_hapi = 0
    with ThreadPoolExecutor(2) as pool:
        for part in pool.map(lambda batch: _remote(hapi, batch, types), batches):
            found.update(part["found"])
            provenance += part["provenance"]["count"]
            per_patient.update(part["provenance"]["per_patient"])
            uncovered += part["provenance"]["uncovered"]
            for local, remote_goals in part["goals"].items():
                mine = db["goals"].get(local)
                stale_hapi += mine is None or any(_goal_state(g) != _goal_state(mine) for g in remote_goals)
    expected = db["expected"]
    sent = db["outbox"].get("sent", 0)
    # entries of one patient claimed together go in one transaction with one Provenance: at most one per entry
    extra = sum(max(0, n - db["sent_per_patient"].get(p, 0)) for p, n in per_patient.items())
    return {"patients": len(db["patients"]), "resources": sum(expected.values()), "outbox": db["outbox"],
            "sent_entries": sent, "provenance": provenance, "provenance_uncovered": uncovered,
            "provenance_extra": extra, "lost": lost,
            "dead": db["outbox"].get("dead", 0),
            "unsettled": sum(n for s, n in db["outbox"].items() if s != "sent"),
            "missing": sum(max(0, n - found.get(key, 0)) for key, n in expected.items()) + uncovered,
            "duplicates": sum(max(0, found.get(key, 0) - n) for key, n in expected.items())
            + extra,
            "stale_goals": stale_db + stale_hapi, "stale_goals_db": stale_db, "stale_goals_hapi": stale_hapi}


def summary(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The load's log (one line per request): requests and errors by status, latency, what was accepted."""
    by_status: dict[str, int] = {}
    for line in lines:
        by_status[str(line["status"])] = by_status.get(str(line["status"]), 0) + 1
    ms = sorted(line["ms"] for line in lines) or [0.0]
    ok = [line for line in lines if line["status"] in (200, 201)]
    return {"requests": len(lines), "status": by_status, "p50_ms": round(statistics.median(ms), 1),
            "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1),
            "episodes_accepted": sum(1 for line in ok if line["kind"] == "episode"),
            "goal_edits_accepted": sum(1 for line in ok if line["kind"] != "episode"),
            "api_errors": {k: v for k, v in by_status.items() if k not in ("200", "201")}}
