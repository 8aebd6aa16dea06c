"""The pull use-case: incremental polling of EHR edits to CarePlan and Goal.

Per target and type, the cursor is the newest ``meta.lastUpdated`` seen (the server's own clock, so
the service's clock never enters the comparison). The next poll asks ``_lastUpdated=ge<cursor -
overlap>``: the overlap window absorbs clock skew between the server's nodes and commits that became
visible late (LinuxForHealth/FHIR #3690). Re-seen versions are filtered out by versionId, so the
overlap costs a few reads, never a duplicate. Paging follows ``next`` links verbatim and never reads
``Bundle.total``. A target that answers 400 to the identifier filter is polled without it
(``tests/integration/test_sync_pull.py`` provokes the 400 with the fault proxy on both servers).

For each changed resource: our own write echoed back (versionId equals the id map's) is skipped; one
that does not map to the ETMI domain is counted and skipped; the rest are handed, mapped (once, here), to
the ``RemoteEditPort`` given at construction (the episode use-case) and, when it took them, the id map
learns the new version. ``hand_over`` does the same for an EHR version adopted outside a pull.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mappings import canonical
from mappings.careplan import careplan_from_fhir
from mappings.errors import Issue, MappingError
from mappings.goal import goal_from_fhir
from service.sync.ports import Clock, FhirServerPort, IdMapPort, Json, RejectedError, RemoteEditPort, SyncStatePort
from service.sync.targets import Target

log = logging.getLogger("etmi.sync.pull")
applied_log = logging.getLogger("etmi.sync.apply")
MAPPERS: Mapping[str, Callable[[Json], Any]] = {"Goal": goal_from_fhir, "CarePlan": careplan_from_fhir}


@dataclass
class PullReport:
    seen: int = 0
    own_writes: int = 0
    applied: int = 0
    unknown: int = 0
    unmappable: int = 0
    cursors: dict[str, str] = field(default_factory=dict)


def not_applied(resource: Json, reason: str, status: int | None = None, error_type: str | None = None) -> None:
    """The one log line of an EHR edit not applied: type, id, status and reason (rules and paths, no values)."""
    applied_log.warning("EHR edit not applied: %s", reason, extra={
        "event": "remote_not_applied", "resource_type": resource.get("resourceType"), "resource_id": resource.get("id"),
        "status": status, "error_type": error_type})


def invalid_reason(issues: Sequence[Issue]) -> str:
    return "invalid: " + "; ".join(f"{i.code} at {i.expression or '(resource)'}" for i in issues[:5])


def hand_over(edits: RemoteEditPort, target: str, resource: Json) -> bool:
    """An EHR version adopted outside a pull: mapped here, then applied by ``edits``; False if not applied."""
    resource_type = str(resource.get("resourceType"))
    if resource_type not in MAPPERS:
        return False
    try:
        mapped = MAPPERS[resource_type](resource)
    except MappingError as err:
        not_applied(resource, invalid_reason(err.issues), 422, type(err).__name__)
        return False
    return edits.apply(target, resource_type, mapped, resource)


def parse_instant(value: str) -> datetime:
    """A FHIR instant with ``Z`` or ``±hh:mm``."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Puller:
    def __init__(
        self, id_map: IdMapPort, state: SyncStatePort, targets: Sequence[tuple[Target, FhirServerPort]],
        clock: Clock, edits: RemoteEditPort,
    ) -> None:
        self.id_map, self.state, self.targets, self.clock = id_map, state, list(targets), clock
        self.edits = edits

    def run_once(self) -> PullReport:
        report = PullReport()
        for target, server in self.targets:
            for resource_type in target.pull_types:
                if resource_type in MAPPERS:
                    self._pull(target, server, resource_type, report)
        return report

    def _pull(self, target: Target, server: FhirServerPort, resource_type: str, report: PullReport) -> None:
        key = f"pull:{target.name}:{resource_type}"
        cursor = self.state.get_cursor(key)
        newest = parse_instant(cursor) if cursor else None
        for resource in self._changes(target, server, resource_type, newest):
            report.seen += 1
            updated = resource.get("meta", {}).get("lastUpdated")
            if updated:
                moment = parse_instant(updated)
                newest = moment if newest is None or moment > newest else newest
            self._take(target, resource_type, resource, report)
        if newest is not None:
            value = newest.isoformat()
            self.state.set_cursor(key, value)
            report.cursors[key] = value

    def _changes(
        self, target: Target, server: FhirServerPort, resource_type: str, since: datetime | None,
    ) -> Iterator[Json]:
        params = {"_count": str(target.page_size), "identifier": f"{canonical.SID_RESOURCE}|"}
        if since is not None:
            start = since - timedelta(seconds=target.pull_overlap_seconds)
            params["_lastUpdated"] = f"ge{start.isoformat()}"
        try:
            yield from server.search(resource_type, params)
        except RejectedError:
            log.info("sync.pull.filter_refused", extra={"target": target.name, "resource_type": resource_type})
            params.pop("identifier")
            yield from server.search(resource_type, params)

    def _take(self, target: Target, resource_type: str, resource: Json, report: PullReport) -> None:
        remote_id = str(resource.get("id", ""))
        version = resource.get("meta", {}).get("versionId")
        local_id = self.id_map.local_id(target.name, resource_type, remote_id)
        if local_id is not None:
            known = self.id_map.get(target.name, resource_type, local_id)
            if known is not None and version is not None and known[1] == str(version):
                report.own_writes += 1
                return
        try:
            mapped = MAPPERS[resource_type](resource)
        except MappingError as err:
            report.unmappable += 1
            log.info("sync.pull.unmappable", extra={"target": target.name, "resource_type": resource_type,
                                                    "issues": len(err.issues)})
            return
        if self.edits.apply(target.name, resource_type, mapped, resource):
            report.applied += 1
            if local_id is not None:
                self.id_map.put(target.name, resource_type, local_id, remote_id, str(version) if version else None)
        else:
            report.unknown += 1
