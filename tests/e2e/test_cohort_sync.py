"""End to end: a cohort of 200 ETMI episodes ingested through the API, synced to HAPI, read back.

Every resource the service stored must be on HAPI exactly once, with identical content and its
references pointing at the right HAPI resources (found by business identifier).
"""

from __future__ import annotations

import copy
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import requests

from mappings.bundle import conditional_query, episode_resources
from mappings.payload import episode_from_json
from service.app import create_app
from service.config import Settings
from service.ig import load_package
from service.store import open_store
from service.synthetic import synthetic_episode
from tests.sync.support import drain, pusher, target_for

PATIENTS = 200
FHIR_JSON = {"Accept": "application/fhir+json"}


def cohort(run: str) -> list[dict[str, Any]]:
    payloads = []
    for i in range(PATIENTS):
        payload = synthetic_episode(i, seed=4193)
        payload["episode_id"] = f"{payload['episode_id']}-{run}"
        payload["patient"]["value"] = f"{payload['patient']['value']}-{run}"
        payloads.append(payload)
    return payloads


def first_identifier(resource: dict[str, Any]) -> dict[str, str]:
    idents = resource["identifier"]
    return idents if isinstance(idents, dict) else idents[0]  # type: ignore[no-any-return]


def fetch_by_identifier(base: str, resources: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """HAPI's copies of ``resources``, keyed by our id, searched 40 identifiers (OR) at a time."""
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in resources:
        by_type[r["resourceType"]].append(r)
    ours = {(first_identifier(r)["system"], first_identifier(r)["value"]): r["id"] for r in resources}
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    session = requests.Session()
    for rtype, group in by_type.items():
        for start in range(0, len(group), 40):
            query = ",".join(conditional_query(r).split("=", 1)[1] for r in group[start:start + 40])
            url: str | None = f"{base}/{rtype}?identifier={query}&_count=200"
            while url:
                page = session.get(url, headers=FHIR_JSON, timeout=120).json()
                for entry in page.get("entry", []):
                    remote = entry["resource"]
                    for ident in [remote["identifier"]] if isinstance(remote["identifier"], dict) \
                            else remote["identifier"]:
                        if (ident["system"], ident["value"]) in ours:
                            found[ours[(ident["system"], ident["value"])]].append(remote)
                url = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None)
    return found


def comparable(resource: dict[str, Any], remote_ids: dict[str, str]) -> dict[str, Any]:
    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (remote_ids.get(v, v) if k == "reference" else rewrite(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    out: dict[str, Any] = rewrite(copy.deepcopy(resource))
    out.pop("id", None)
    profile = out.pop("meta", {}).get("profile")
    if profile:
        out["meta"] = {"profile": profile}
    return out


@pytest.mark.hapi
@pytest.mark.slow
def test_cohort_of_200_patients_reaches_hapi_once_and_intact(hapi_url: str, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'etmi.db'}"
    app = create_app(Settings(database_url=database, auth_mode="none"))
    client = app.test_client()
    payloads = cohort(uuid.uuid4().hex[:8])
    for payload in payloads:
        response = client.post("/api/v1/episodes", json=payload)
        assert response.status_code == 201, response.get_data(as_text=True)[:500]

    store = open_store(database, migrate=False)
    reports = drain(pusher(store, [target_for(hapi_url, "hapi")]), rounds=10 * PATIENTS)
    assert store.outbox.counts() == {"sent": PATIENTS}, [r.errors for r in reports if r.errors][:3]

    questionnaires = load_package().questionnaires()
    resources = [r for p in payloads for r in episode_resources(episode_from_json(p), questionnaires)]
    copies = fetch_by_identifier(hapi_url, resources)
    missing_or_doubled = {r["id"]: len(copies.get(r["id"], [])) for r in resources if len(copies.get(r["id"], [])) != 1}
    assert not missing_or_doubled, f"{len(missing_or_doubled)} resources not present exactly once"

    remote_ids = {f"{r['resourceType']}/{r['id']}": f"{r['resourceType']}/{copies[r['id']][0]['id']}"
                  for r in resources}
    differing = [f"{r['resourceType']}/{r['id']}" for r in resources
                 if comparable(copies[r["id"]][0], {}) != comparable(r, remote_ids)]
    assert not differing, f"{len(differing)} resources differ on HAPI, e.g. {differing[:3]}"
    assert len(resources) > 30 * PATIENTS
