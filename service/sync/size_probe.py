"""Measure how many entries a target accepts in one transaction (``etmi-fhir check-server --smoke``).

Posts transactions of conditional updates (``PUT Observation?identifier=…``, the kind of entry the sync
engine sends, which is what Medplum's strict-isolation cap counts) of harmless Observations tagged with the
check's run, doubling the size until the target refuses one for its size (``TooLargeError``), then a
binary search between the largest accepted and the smallest refused size. The identifiers repeat from one
transaction to the next, so the target holds at most ``cap`` test resources; every one is deleted at the
end. Bounded: at most ``cap`` entries per transaction and ``seconds`` of probing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from service.sync.errors import TooLargeError
from service.sync.ports import FhirError, FhirServerPort, Json
from service.sync.refs import parse_location

CAP = 64  # above the default max_entries (50): a target accepting CAP needs no smaller setting


@dataclass
class SizeProbe:
    accepted: int = 0  # the largest transaction accepted
    refused: int | None = None  # the smallest refused for its size (None: none up to ``cap``)
    status: int | None = None  # the HTTP status of that refusal
    complete: bool = True  # False: the time ran out before the search closed
    seconds: float = 0.0
    made: set[str] = field(default_factory=set)  # ids of the test resources the target holds
    deleted: int = 0

    @property
    def limit(self) -> int | None:
        """The target's limit when it was found (the largest accepted size, one below a refused one)."""
        return self.accepted if self.refused is not None and self.refused == self.accepted + 1 else None


def _bundle(system: str, run: str, tag: Json, size: int) -> Json:
    entries = []
    for i in range(size):
        value = f"size-{run}-{i}"
        resource = {"resourceType": "Observation", "meta": {"tag": [tag]}, "status": "final",
                    "identifier": [{"system": system, "value": value}],
                    "code": {"text": "etmi-fhir check-server transaction size probe (not clinical data)"}}
        request = {"method": "PUT", "url": f"Observation?identifier={system}|{value}"}
        entries.append({"resource": resource, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def measure(server: FhirServerPort, system: str, run: str, cap: int = CAP, seconds: float = 60.0,
            clock: Callable[[], float] = time.monotonic) -> SizeProbe:
    """Probe ``server``; other errors than a size refusal propagate (after the clean-up)."""
    tag = {"system": system, "code": f"run-{run}"}
    probe, start = SizeProbe(), clock()

    def accepted(size: int) -> bool:
        try:
            answer = server.transaction(_bundle(system, run, tag, size))
        except TooLargeError as err:
            probe.refused, probe.status = size, err.status
            return False
        for entry in (answer.body or {}).get("entry", []):
            found = parse_location(entry.get("response", {}).get("location"))
            if found:
                probe.made.add(found[1])
        probe.accepted = size
        return True

    try:
        size = 1
        while size <= cap and accepted(size) and size < cap:
            size = min(cap, size * 2)
            if clock() - start > seconds:
                probe.complete = False
                break
        while probe.refused is not None and probe.refused - probe.accepted > 1 and probe.complete:
            if clock() - start > seconds:
                probe.complete = False
                break
            accepted((probe.accepted + probe.refused) // 2)
    finally:
        _clean_up(server, probe)
        probe.seconds = round(clock() - start, 2)
    return probe


def _clean_up(server: FhirServerPort, probe: SizeProbe) -> None:
    for rid in sorted(probe.made):
        try:
            server.delete("Observation", rid)
            probe.deleted += 1
        except FhirError:
            continue
