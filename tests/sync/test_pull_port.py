"""The Puller maps a pulled Goal or CarePlan once and hands the mapped object to the ``RemoteEditPort`` it
was given at construction; our own writes echoed back and unmappable resources never reach the port; the
id map learns the EHR's version only of what the port applied. With a file state, edits are logged as not
applied (type, id and reason)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

import pytest

from mappings.domain import ActivityGoal, CarePlanState
from service.adapters.file_state import FileSyncState
from service.sync import pull
from service.sync.clock import SystemClock
from service.sync.ports import FhirResponse, FhirServerPort, Json
from service.sync.pull import Puller
from tests.sync.support import episode_resources, target_for, unique_episode


class Server:
    """Only what the Puller asks of an EHR: a search answering the resources of a type."""

    base_url = "http://ehr.invalid/fhir"

    def __init__(self, resources: list[Json]) -> None:
        self.resources = resources

    def search(self, resource_type: str, params: Mapping[str, str]) -> Iterator[Json]:
        yield from (copy.deepcopy(r) for r in self.resources if r["resourceType"] == resource_type)

    def __getattr__(self, name: str) -> Callable[..., FhirResponse]:
        raise AssertionError(f"the Puller does not call {name}")


def server(resources: list[Json]) -> FhirServerPort:
    return cast(FhirServerPort, Server(resources))


class IdMap:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], tuple[str, str | None]] = {}

    def get(self, target: str, resource_type: str, local_id: str) -> tuple[str, str | None] | None:
        return self.rows.get((target, resource_type, local_id))

    def put(self, target: str, resource_type: str, local_id: str, remote_id: str,
            remote_version: str | None = None) -> None:
        self.rows[(target, resource_type, local_id)] = (remote_id, remote_version)

    def local_id(self, target: str, resource_type: str, remote_id: str) -> str | None:
        return next((k[2] for k, v in self.rows.items() if k[:2] == (target, resource_type) and v[0] == remote_id),
                    None)


class Edits:
    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.handed: list[tuple[str, str, Any, Json]] = []

    def apply(self, target: str, resource_type: str, mapped: Any, resource: Json) -> bool:
        self.handed.append((target, resource_type, mapped, resource))
        return self.answer


def pulled(version: str) -> tuple[Json, Json, dict[str, str]]:
    """The episode's Goal and CarePlan as the EHR answers them (remote ids, ``version``), and their local ids."""
    entries = episode_resources(unique_episode(3))
    goal, plan = (copy.deepcopy(next(r for r in entries if r["resourceType"] == t)) for t in ("Goal", "CarePlan"))
    local = {"Goal": goal["id"], "CarePlan": plan["id"]}
    for resource, remote in ((goal, "r-goal"), (plan, "r-plan")):
        resource["id"] = remote
        resource["meta"] = {"versionId": version, "lastUpdated": "2026-03-01T10:00:00Z"}
    return goal, plan, local


def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    mappers = dict(pull.MAPPERS)

    def mapper(rtype: str) -> Callable[[Json], Any]:
        def mapped(resource: Json) -> Any:
            calls.append(rtype)
            return mappers[rtype](resource)
        return mapped
    monkeypatch.setattr(pull, "MAPPERS", {t: mapper(t) for t in mappers})
    return calls


def test_the_port_gets_the_mapped_goal_and_careplan_once(monkeypatch: pytest.MonkeyPatch) -> None:
    goal, plan, local = pulled("2")
    goal["lifecycleStatus"], plan["status"] = "on-hold", "on-hold"
    id_map, edits, calls = IdMap(), Edits(), counted(monkeypatch)
    for resource in (goal, plan):  # we wrote version 1
        id_map.put("ehr", resource["resourceType"], local[resource["resourceType"]], resource["id"], "1")
    target = target_for("http://ehr.invalid/fhir", "ehr")
    report = Puller(id_map, FileSyncState(), [(target, server([goal, plan]))], SystemClock(), edits).run_once()
    assert (report.seen, report.applied, report.own_writes, report.unknown) == (2, 2, 0, 0)
    assert sorted(calls) == ["CarePlan", "Goal"], "each pulled resource is mapped once, by the Puller"
    handed = {rtype: (target_name, mapped, resource["id"]) for target_name, rtype, mapped, resource in edits.handed}
    assert isinstance(handed["Goal"][1], ActivityGoal) and handed["Goal"][1].lifecycle_status == "on-hold"
    assert isinstance(handed["CarePlan"][1], CarePlanState) and handed["CarePlan"][1].status == "on-hold"
    assert handed["Goal"][0] == "ehr" and handed["Goal"][2] == "r-goal"
    assert id_map.get("ehr", "Goal", local["Goal"]) == ("r-goal", "2"), "the id map learns the applied version"


def test_own_writes_unmappable_and_refused_edits(monkeypatch: pytest.MonkeyPatch) -> None:
    goal, plan, local = pulled("5")
    del plan["identifier"]  # no ETMI business identifier: does not map
    id_map, calls = IdMap(), counted(monkeypatch)
    id_map.put("ehr", "Goal", local["Goal"], "r-goal", "5")  # our own write, echoed back
    target = target_for("http://ehr.invalid/fhir", "ehr")
    edits = Edits()
    report = Puller(id_map, FileSyncState(), [(target, server([goal, plan]))], SystemClock(), edits).run_once()
    assert (report.own_writes, report.unmappable, report.applied) == (1, 1, 0)
    assert edits.handed == [] and calls == ["CarePlan"]

    goal["meta"]["versionId"] = "6"  # now a clinician's edit, which the port refuses
    refusing = Edits(answer=False)
    report = Puller(id_map, FileSyncState(), [(target, server([goal]))], SystemClock(), refusing).run_once()
    assert (report.applied, report.unknown) == (0, 1) and len(refusing.handed) == 1
    assert id_map.get("ehr", "Goal", local["Goal"]) == ("r-goal", "5"), "a refused edit teaches the id map nothing"


def test_a_file_state_logs_the_edit_as_not_applied(caplog: pytest.LogCaptureFixture) -> None:
    goal, _plan, _local = pulled("2")
    state = FileSyncState()
    target = target_for("http://ehr.invalid/fhir", "ehr")
    with caplog.at_level(logging.WARNING, logger="etmi"):
        report = Puller(IdMap(), state, [(target, server([goal]))], SystemClock(), state).run_once()
    assert (report.applied, report.unknown) == (0, 1)
    [record] = [r for r in caplog.records if getattr(r, "event", None) == "remote_not_applied"]
    assert (record.resource_type, record.resource_id) == ("Goal", "r-goal")  # type: ignore[attr-defined]
    assert "edits are not applied" in record.getMessage()
    assert goal["identifier"][0]["value"] not in record.getMessage()
