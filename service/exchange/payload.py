"""A patient's registry rows -> their registry episode payload (``examples/README.md``).

Each patient of a registry gets one episode, ``REG-`` and a digest of the identifier (so the same
patient always lands in the same episode). A row's scores become ``scores[]`` entries with the id
``reg-<date>-<kind>``, its session a ``sessions[]`` entry with that number; importing the same row
again gives the same payload, which is how a re-run knows a row is done.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from service.exchange.registry import Row


def episode_id(system: str, value: str) -> str:
    return "REG-" + hashlib.sha256(f"{system}|{value}".encode()).hexdigest()[:24]


def merged(existing: dict[str, Any] | None, rows: list[Row]) -> dict[str, Any]:
    """``existing`` (the stored payload, or None) with ``rows`` applied; a row replaces what it names."""
    first = rows[0]
    payload: dict[str, Any] = copy.deepcopy(existing) if existing else {
        "episode_id": episode_id(first.system, first.value), "patient": {"system": first.system, "value": first.value},
        "start": first.day, "status": "active", "sessions": [], "responses": [], "goals": [], "scores": []}
    payload["start"] = min([str(payload["start"]), *(r.day for r in rows)])
    scores = {s["score_id"]: s for s in payload.get("scores", [])}
    sessions = {s["number"]: s for s in payload.get("sessions", [])}
    for row in rows:
        for kind, value in row.scores.items():
            scores[f"reg-{row.day}-{kind}"] = {"score_id": f"reg-{row.day}-{kind}", "kind": kind, "value": value,
                                               "effective": row.day}
        if row.session is not None:
            sessions[row.session] = {"number": row.session, "performed": row.day, "etmi_delivered": row.etmi,
                                     "components": []}
    payload["scores"] = [scores[k] for k in sorted(scores)]
    payload["sessions"] = [sessions[k] for k in sorted(sessions)]
    return payload
