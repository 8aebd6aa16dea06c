"""Two independent FHIR clients read the façade over real HTTP: fhirclient (SMART) and fhirpy."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhirclient import client as smart_client
from fhirclient.models.careplan import CarePlan
from fhirclient.models.goal import Goal
from fhirclient.models.observation import Observation
from fhirpy import SyncFHIRClient
from werkzeug.serving import make_server

from mappings import canonical as c
from service.app import create_app
from tests.servers.fixtures import free_port
from tests.service.conftest import EXAMPLE, make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The app on a free loopback port, loaded with two patients' episodes: (FHIR base, patient id)."""
    import json

    db = tmp_path_factory.mktemp("served") / "etmi.db"
    port = free_port()  # links are minted from ETMI_PUBLIC_BASE_URL, never from the Host header
    app = create_app(make_settings(f"sqlite:///{db}", public_base_url=f"http://127.0.0.1:{port}"))
    episode: dict[str, Any] = json.loads(Path(EXAMPLE).read_text())
    other = copy.deepcopy(episode)
    other.update(episode_id="EP-2", patient={"system": episode["patient"]["system"], "value": "P-2"})
    with app.test_client() as client:
        patient_id = client.post("/api/v1/episodes", json=episode).get_json()["patient_id"]
        client.post("/api/v1/episodes", json=other)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/fhir", patient_id
    finally:
        server.shutdown()
        app.extensions["etmi"].store.close()


def test_fhirclient_reads_metadata_observations_and_careplan(served: tuple[str, str]) -> None:
    base, patient_id = served
    fhir = smart_client.FHIRClient(settings={"app_id": "etmi-test", "api_base": base})
    fhir.prepare()
    statement = fhir.server.capabilityStatement
    assert statement.fhirVersion == "4.0.1"
    assert "Observation" in {r.type for r in statement.rest[0].resource}
    search = Observation.where(struct={"patient": patient_id, "_count": "4"})
    pages = list(search.perform_iter(fhir.server))
    observations = [e.resource for page in pages for e in page.entry or []]
    assert len(pages) > 2 and len(observations) == pages[0].total
    assert {o.subject.reference for o in observations} == {f"Patient/{patient_id}"}
    plans = CarePlan.where(struct={"patient": patient_id, "_include": "CarePlan:goal"})
    [bundle] = list(plans.perform_iter(fhir.server))
    plan = next(e.resource for e in bundle.entry if e.search.mode == "match")
    goals = [e.resource for e in bundle.entry if e.search.mode == "include"]
    assert [f"Goal/{g.id}" for g in goals] == [g.reference for g in plan.goal]
    goal = Goal.read(plan.goal[0].reference.split("/")[1], fhir.server)
    assert goal.target[0].detailQuantity.value == 150


def test_fhirpy_reads_metadata_observations_and_careplan(served: tuple[str, str]) -> None:
    base, patient_id = served
    fhir = SyncFHIRClient(base)
    statement = fhir.execute("metadata", method="get")
    assert statement["fhirVersion"] == "4.0.1" and c.ETMI_IG in statement["implementationGuide"]
    pains = fhir.resources("Observation").search(patient=patient_id, code=f"{c.LOINC}|72514-3")
    assert pains.count() == 3
    every = fhir.resources("Observation").search(patient=patient_id).limit(5).fetch_all()
    total = fhir.resources("Observation").search(patient=patient_id).count()
    assert len(every) == total > 5 and len({o.id for o in every}) == total
    plans = fhir.resources("CarePlan").search(patient=patient_id).include("CarePlan", "goal").fetch_raw()
    kinds = sorted(e["resource"]["resourceType"] for e in plans["entry"])
    assert kinds == ["CarePlan", "Goal"]
    plan = fhir.resources("CarePlan").search(patient=patient_id).first()
    goal = plan["goal"][0].to_resource()
    assert goal["resourceType"] == "Goal" and goal["subject"]["reference"] == f"Patient/{patient_id}"
