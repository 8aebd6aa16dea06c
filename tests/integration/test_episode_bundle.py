"""An ETMI episode transaction Bundle against both real FHIR servers (HAPI JPA and Medplum).

Everything the server stores must read back identical to what was sent (references rewritten to the
server's ids), and sending the same Bundle again must create nothing new.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from mappings.bundle import episode_to_bundle
from mappings.payload import episode_from_json
from service.ig import load_package
from service.synthetic import synthetic_episode

ROOT = Path(__file__).resolve().parents[2]
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


#: Entries per transaction each server accepts: Medplum refuses more than 8 entries in a transaction
#: that holds a conditional entry ("requires strict isolation"); HAPI has no limit by default.
MAX_ENTRIES = {"hapi": 10_000, "medplum": 8}


@pytest.fixture(params=[pytest.param("hapi", marks=pytest.mark.hapi),
                        pytest.param("medplum", marks=pytest.mark.medplum)])
def server(request: pytest.FixtureRequest) -> tuple[str, int]:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url, MAX_ENTRIES[request.param]


def episode_bundle(payload: dict[str, Any]) -> dict[str, Any]:
    return episode_to_bundle(episode_from_json(payload), load_package().questionnaires())


def post_transaction(base: str, bundle: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(base, data=json.dumps(bundle), headers=FHIR_JSON, timeout=120)
    assert response.status_code == 200, response.text[:2000]
    result: dict[str, Any] = response.json()
    return result


def locations(result: dict[str, Any]) -> list[str]:
    """``Type/id/_history/version`` of each entry, from the transaction-response."""
    out = []
    for entry in result["entry"]:
        location = entry["response"]["location"]
        out.append(location.split("/fhir/")[-1] if "/fhir/" in location else location)
    return out


def send_in_chunks(base: str, bundle: dict[str, Any], max_entries: int) -> list[str]:
    """Send the Bundle as transactions of at most ``max_entries``, in order; a reference to an entry of
    an earlier chunk is rewritten to the id the server gave it, as a client must do for such a server."""
    sent: dict[str, str] = {}
    out: list[str] = []
    entries = bundle["entry"]
    for start in range(0, len(entries), max_entries):
        chunk = [with_server_ids(e, sent) for e in entries[start:start + max_entries]]
        result = locations(post_transaction(base, {**bundle, "entry": chunk}))
        sent.update({e["fullUrl"]: "/".join(loc.split("/")[:2]) for e, loc in zip(chunk, result, strict=True)})
        out += result
    return out


def with_server_ids(resource: dict[str, Any], ids: dict[str, str]) -> Any:
    if isinstance(resource, dict):
        return {k: (ids.get(v, v) if k == "reference" else with_server_ids(v, ids)) for k, v in resource.items()}
    if isinstance(resource, list):
        return [with_server_ids(v, ids) for v in resource]
    return resource


def comparable(resource: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    out.pop("id", None)
    profiles = out.pop("meta", {}).get("profile")
    if profiles:
        out["meta"] = {"profile": profiles}
    return out


@pytest.mark.parametrize("payload", [json.loads((ROOT / "examples" / "episode.json").read_text()),
                                     synthetic_episode(3, seed=77)], ids=["example", "synthetic"])
def test_episode_bundle_round_trips_and_is_idempotent(server: tuple[str, int], payload: dict[str, Any]) -> None:
    fhir_base, max_entries = server
    bundle = episode_bundle(payload)
    first = send_in_chunks(fhir_base, bundle, max_entries)
    assert len(first) == len(bundle["entry"])
    server_ids = {e["fullUrl"]: "/".join(loc.split("/")[:2]) for e, loc in zip(bundle["entry"], first, strict=True)}

    for entry, location in zip(bundle["entry"], first, strict=True):
        stored = requests.get(f"{fhir_base}/{'/'.join(location.split('/')[:2])}", headers=FHIR_JSON, timeout=30)
        assert stored.status_code == 200, stored.text[:500]
        expected = comparable(with_server_ids(entry["resource"], server_ids))
        assert comparable(stored.json()) == expected, f"{location} differs from what was sent"

    again = send_in_chunks(fhir_base, bundle, max_entries)
    assert again == first, "sending the same Bundle twice must neither create nor version anything"
    for entry in bundle["entry"]:
        rtype, query = entry["resource"]["resourceType"], entry["request"].get("ifNoneExist") \
            or entry["request"]["url"].split("?", 1)[1]
        found = requests.get(f"{fhir_base}/{rtype}?{query}", headers=FHIR_JSON, timeout=30).json()
        assert len(found.get("entry", [])) == 1, f"{rtype}?{query} matches {len(found.get('entry', []))}"
