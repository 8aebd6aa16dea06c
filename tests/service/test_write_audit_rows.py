"""The audit rows of one write are built with the parts their AuditEvents share built once (``audit_events``),
and each event is, byte for byte, what ``audit_event`` makes of its record alone (bench/profiles/ingest.md,
Session 20: the 35 audit rows of an episode are built inside the write lock)."""

from __future__ import annotations

import itertools
from datetime import datetime

import orjson
import pytest

from service.security import audit_event as module
from service.security.audit_event import AuditRecord, audit_event, audit_events
from service.store.audit import audit_rows

AT = datetime(2026, 12, 4, 5, 6, 7, 891011)


def _shapes() -> list[AuditRecord]:
    shapes = []
    for action, outcome, client, issuer, patient, rid, version, request, params, rtype in itertools.product(
            ["read", "create", "update", "search", "history"], ["0", "4"], [None, "app"], [None, "https://iss"],
            [None, "p1"], [None, "p1", "g1"], [None, 2], [None, "req-1"], [(), ("date", "code", "code")],
            ["Patient", "Goal"]):
        shapes.append(AuditRecord(at=AT if version else datetime(2025, 1, 1), actor="user-1", action=action,
                                  resource_type=rtype, resource_id=rid, version_id=version, patient_id=patient,
                                  request_id=request, outcome=outcome, client=client, issuer=issuer, params=params))
    return shapes


def test_each_shared_event_is_the_event_of_its_record_alone() -> None:
    shapes = _shapes()
    assert [orjson.dumps(e) for e in audit_events(shapes)] == [orjson.dumps(audit_event(r)) for r in shapes]
    assert [orjson.dumps(row["event"]) for row in audit_rows(shapes)] == [orjson.dumps(audit_event(r))
                                                                          for r in shapes]


def test_an_episodes_records_build_their_agents_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    agents = module._agents

    def counted(record: AuditRecord) -> list[dict[str, object]]:
        built.append(record.actor)
        return agents(record)

    monkeypatch.setattr(module, "_agents", counted)
    records = [AuditRecord(at=AT, actor="user-1", action="create", resource_type="Observation",
                           resource_id=f"o{i}", version_id=1, patient_id="p1", request_id="req-1") for i in range(35)]
    events = audit_rows(records)
    assert len(built) == 1 and len(events) == 35
    assert {e["event"]["entity"][1]["what"]["reference"] for e in events} == {f"Observation/o{i}/_history/1"
                                                                              for i in range(35)}
