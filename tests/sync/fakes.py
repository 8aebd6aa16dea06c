"""An in-process FHIR server for the unit tests of tests/sync (the integration tests use real servers).

``FakeEhr`` answers transaction Bundles the way HAPI and Medplum do for ETMI's entries (a location with
id and version per entry), remembers every resource it was sent, in order, and refuses everything with
503 while ``down`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from service.sync.ports import FhirResponse, Json, RetryableError


@dataclass
class FakeEhr:
    name: str
    base_url: str = ""
    down: bool = False
    received: list[Json] = field(default_factory=list)
    refused: int = 0

    def __post_init__(self) -> None:
        self.base_url = self.base_url or f"http://{self.name}.invalid/fhir"

    def transaction(self, bundle: Json) -> FhirResponse:
        if self.down:
            self.refused += 1
            raise RetryableError(f"HTTP 503 from {self.name}", 503)
        answers = []
        for entry in bundle["entry"]:
            resource, url = entry["resource"], entry["request"]["url"]
            self.received.append(resource)
            version = len(self.received)
            rid = url.split("/")[1] if "/" in url and "?" not in url else f"{self.name}-{version}"
            location = f"{resource['resourceType']}/{rid}/_history/{version}"
            answers.append({"response": {"status": "201 Created", "location": location}})
        return FhirResponse(200, {"resourceType": "Bundle", "type": "transaction-response", "entry": answers})

    def sent(self, resource_type: str) -> list[Json]:
        return [r for r in self.received if r["resourceType"] == resource_type]

    def capabilities(self) -> Json:
        raise NotImplementedError

    def smart_configuration(self) -> Json | None:
        return None

    def read(self, resource_type: str, resource_id: str) -> FhirResponse:
        raise NotImplementedError

    def search(self, resource_type: str, params: Mapping[str, str]) -> Iterator[Json]:
        raise NotImplementedError

    def create(self, resource: Json, if_none_exist: str | None = None) -> FhirResponse:
        raise NotImplementedError

    def update(self, resource: Json, if_match: str | None = None, condition: str | None = None) -> FhirResponse:
        raise NotImplementedError

    def delete(self, resource_type: str, resource_id: str) -> FhirResponse:
        raise NotImplementedError
