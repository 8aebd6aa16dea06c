"""A new user's first push to Medplum, with the target configured by its base URL only (issue 16 item 2).

Medplum refuses transactions of more than 8 entries when one is conditional ("Transaction requires strict
isolation but has too many entries"), and every episode is about 35 entries. The worker must learn that
limit from the refusals, deliver every episode exactly once, dead-letter nothing, and ``sync status``
must report the learned size. On a module-private Medplum (tests/sync/support.py ``private_medplum``), so
every resource on it is this test's and can be counted.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from service.adapters.fhir_client import FhirClient
from service.cli import main
from service.store import open_store
from service.sync.targets import ETMI_TYPES
from tests.sync.support import enqueue_bundle, episode_bundle, unique_episode

pytestmark = pytest.mark.medplum
EPISODES = 3


def held(client: FhirClient) -> dict[str, list[dict[str, object]]]:
    return {rtype: list(client.search(rtype, {"_count": "200"})) for rtype in ETMI_TYPES}


@pytest.mark.parametrize("how", ["ETMI_SYNC_TARGETS", "ETMI_EHR_BASE_URL"])
def test_a_worker_delivers_every_episode_to_medplum_configured_by_base_url_only(
    private_medplum: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    database = f"sqlite:///{tmp_path / 'etmi.db'}"
    for name in ("ETMI_SYNC_STATE_FILE", "ETMI_SYNC_TARGETS", "ETMI_EHR_BASE_URL", "ETMI_EHR_BEARER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ETMI_DATABASE_URL", database)
    if how == "ETMI_SYNC_TARGETS":
        monkeypatch.setenv(how, json.dumps({"targets": {"medplum": {"base_url": private_medplum}}}))
    else:
        monkeypatch.setenv(how, private_medplum)
    target = "medplum" if how == "ETMI_SYNC_TARGETS" else "default"
    store = open_store(database)
    bundles = [episode_bundle(unique_episode(40 + i)) for i in range(EPISODES)]
    for i, bundle in enumerate(bundles):
        enqueue_bundle(store, bundle, f"limits-{i}")
    before = held(FhirClient(private_medplum))

    assert main(["worker", "--exit-when-idle", "--pull-every", "0"]) == 0
    assert store.outbox.counts() == {"sent": EPISODES}, "every episode sent on its first attempt, none dead"

    after = held(FhirClient(private_medplum))
    new = {rtype: [r for r in after[rtype] if r["id"] not in {b["id"] for b in before[rtype]}] for rtype in after}
    expected = Counter(e["resource"]["resourceType"] for b in bundles for e in b["entry"])
    counts = {rtype: len(found) for rtype, found in new.items() if found}
    assert {k: v for k, v in counts.items() if k != "Provenance"} == dict(expected), "each resource exactly once"
    named = Counter("/".join(str(t["reference"]).split("/")[:2])
                    for p in new["Provenance"] for t in p["target"])  # type: ignore[attr-defined]
    written = [f"{rtype}/{r['id']}" for rtype, found in new.items() if rtype != "Provenance" for r in found]
    assert {ref: named[ref] for ref in written} == dict.fromkeys(written, 1), "one Provenance names each resource"
    assert all(1 <= len(p["target"]) <= 7 for p in new["Provenance"]), "one Provenance a chunk of at most 7 writes"  # type: ignore[arg-type]

    capsys.readouterr()
    assert main(["sync", "status", "--json"]) == 0
    size = json.loads(capsys.readouterr().out)["transaction_sizes"][target]
    assert size["max_entries"] == 8 and size["learned"]["status"] == 400 and size["configured_max_entries"] == 50
    assert main(["sync", "status"]) == 0
    assert f"target {target}: transactions of up to 8 entries, learned" in capsys.readouterr().out
