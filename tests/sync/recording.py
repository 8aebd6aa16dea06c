"""The fake EHR of ``fakes.py`` recording every request as the engine sent it, and small builders for the
send tests (``test_send_requests.py``, ``test_send_answers.py``): Goals with business identifiers, outbox
Bundles of several writes (one plan), a push to one target, and a check that stored references resolve."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.store import Store
from service.sync.clock import SystemClock
from service.sync.ports import FhirResponse, Json
from service.sync.push import Pusher, PushReport
from service.sync.targets import Target
from tests.sync.fakes import FakeEhr
from tests.sync.support import drain_until_settled, enqueue_bundle, new_store, target_for

LOCAL_TYPES = ("Patient", "Condition", "CarePlan", "Goal", "Procedure", "QuestionnaireResponse", "Observation")


@dataclass
class RecordingEhr(FakeEhr):
    """``calls``: ``(kind, what was sent)`` per request; ``reads``: ``Type/id`` per read."""

    calls: list[tuple[str, Json]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)

    def transaction(self, bundle: Json) -> FhirResponse:
        self.calls.append((str(bundle.get("type")), copy.deepcopy(bundle)))
        return super().transaction(bundle)

    def create(self, resource: Json, if_none_exist: str | None = None) -> FhirResponse:
        self.calls.append(("create", {"resource": copy.deepcopy(resource), "ifNoneExist": if_none_exist}))
        return super().create(resource, if_none_exist)

    def update(self, resource: Json, if_match: str | None = None, condition: str | None = None) -> FhirResponse:
        sent = {"resource": copy.deepcopy(resource), "ifMatch": if_match, "condition": condition}
        self.calls.append(("update", sent))
        return super().update(resource, if_match, condition)

    def delete(self, resource_type: str, resource_id: str) -> FhirResponse:
        self.calls.append(("delete", {"url": f"{resource_type}/{resource_id}"}))
        return super().delete(resource_type, resource_id)

    def read(self, resource_type: str, resource_id: str) -> FhirResponse:
        self.reads.append(f"{resource_type}/{resource_id}")
        return super().read(resource_type, resource_id)

    def entries(self, kind: str = "transaction") -> list[Json]:
        """Every entry of the Bundles of that type sent so far."""
        return [e for k, b in self.calls if k == kind for e in b.get("entry", [])]


def goal(name: str, text: str = "", **extra: Any) -> Json:
    return {"resourceType": "Goal", "id": name, "identifier": [{"system": "urn:x", "value": name}],
            "lifecycleStatus": "active", "description": {"text": text or f"goal {name}"},
            "subject": {"display": "a patient"}, **extra}


def bundle_of(*writes: tuple[str, Json]) -> Json:
    """An outbox transaction Bundle: ``(method, resource)`` per write (``PUT`` conditional, ``DELETE`` by id)."""
    entries = []
    for method, res in writes:
        rtype, rid = res["resourceType"], res["id"]
        url = f"{rtype}/{rid}" if method == "DELETE" else f"{rtype}?identifier=urn:x|{rid}"
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{rtype}/{rid}')}",
                        "resource": res, "request": {"method": method, "url": url}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


class Bench:
    """A real SQLite store, one target ``a`` on a recording fake EHR, and pushes until settled."""

    def __init__(self, tmp_path: Path, mode: str = "transaction", ehr: RecordingEhr | None = None, **options: Any):
        self.store: Store = new_store(tmp_path)
        self.ehr = ehr or RecordingEhr("a")
        self.target: Target = target_for(self.ehr.base_url, "a", mode=mode, **options)
        self._entries = 0

    def enqueue(self, *writes: tuple[str, Json], patient: str = "p1") -> None:
        self._entries += 1
        enqueue_bundle(self.store, bundle_of(*writes), patient, f"entry-{self._entries}")

    def pusher(self) -> Pusher:
        return Pusher(self.store.outbox, self.store.id_map, [(self.target, self.ehr)], SystemClock(), "w1",
                      state=self.store.sync_state)

    def push(self) -> list[PushReport]:
        """Rounds until nothing is pending, failed or in flight."""
        return drain_until_settled(self.pusher(), self.store, 20)

    def push_once(self) -> list[PushReport]:
        """One round: what a failure leaves in the outbox stays there."""
        return [self.pusher().run_once()]

    def remote(self, resource: Json) -> tuple[str, str | None] | None:
        return self.store.id_map.get("a", resource["resourceType"], resource["id"])

    def history(self, resource: Json) -> list[Json]:
        found = self.remote(resource)
        assert found is not None, f"{resource['resourceType']}/{resource['id']} not in the id map"
        return self.ehr.history(resource["resourceType"], found[0])


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                yield v
            else:
                yield from references(v)
    elif isinstance(value, list):
        for v in value:
            yield from references(v)


def dangling(ehr: FakeEhr) -> list[str]:
    """References stored on the EHR that name nothing it holds: a ``urn:uuid`` no transaction resolved, or a
    ``Type/id`` of the exchanged types (a local id sent as is, a version number taken for an id)."""
    out = []
    for versions in ehr.store.values():
        for ref in references(versions[-1] or {}):
            rtype, _, rid = ref.partition("/")
            if ref.startswith("urn:") or (rtype in LOCAL_TYPES and "/" not in rid and not ehr.store.get((rtype, rid))):
                out.append(ref)
    return out
