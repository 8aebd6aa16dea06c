"""Export: ``etmi-fhir export`` (NDJSON per type, every line valid per ``etmi-fhir validate``; the outcomes
CSV imports again) and the façade's Bulk Data ``$export`` (kick-off, polling, download, cancel)."""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from service.app import create_app
from service.cli import main
from service.exchange.jobs import STALE_LOCK, Jobs
from service.store import Store
from service.store.db import utcnow
from tests.service.authz_world import World, build_world


def exported(tmp_path: Path, database_url: str) -> Path:
    out = tmp_path / "export"
    assert main(["export", "--out", str(out), "--database-url", database_url, "--quiet"]) == 0
    return out


def test_export_writes_valid_ndjson_per_type_and_the_outcomes_csv(
        client: FlaskClient, database_url: str, episode: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert client.post("/api/v1/episodes", json=episode).status_code == 201
    out = exported(tmp_path, database_url)
    files = sorted(p.name for p in out.glob("*.ndjson"))
    assert files == ["CarePlan.ndjson", "Condition.ndjson", "Goal.ndjson", "Observation.ndjson", "Patient.ndjson",
                     "Procedure.ndjson", "QuestionnaireResponse.ndjson"]
    singles = tmp_path / "lines"
    singles.mkdir()
    names = []
    for path in out.glob("*.ndjson"):
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            single = singles / f"{path.stem}-{number}.json"
            single.write_bytes(line)
            names.append(str(single))
    assert len(names) > 20
    capsys.readouterr()
    assert main(["validate", *names]) == 0, capsys.readouterr().out[:3000]  # every line, as the CLI validates it

    with (out / "outcomes.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["date"] for r in rows} == {"2026-01-05", "2026-02-02"}
    intake = next(r for r in rows if r["date"] == "2026-01-05")
    assert (intake["patient_id"], intake["pain"], intake["function"]) == ("P-000123", "6", "48.5")
    assert main(["import", str(out / "outcomes.csv"), "--database-url", database_url, "--quiet"]) == 0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from build_world(tmp_path_factory.mktemp("bulk"))


ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def kick_off(world: World, url: str, who: str = "system") -> str:
    response = world.client.get(url, headers={**ASYNC, **world.headers(who)})
    assert response.status_code == 202, response.get_data(as_text=True)
    location: str = response.headers["Content-Location"]
    assert location.startswith("http://localhost/fhir/$export-status/")
    return location.removeprefix("http://localhost")


def poll(world: World, status_url: str, who: str = "system") -> tuple[list[str], dict[str, Any]]:
    """Poll until complete: the X-Progress values seen on the way, and the manifest."""
    progress = []
    for _ in range(20):
        response = world.get(status_url, who)
        if response.status_code == 202:
            progress.append(response.headers["X-Progress"])
            continue
        assert response.status_code == 200, response.get_data(as_text=True)
        body: dict[str, Any] = response.get_json(force=True)
        return progress, body
    raise AssertionError("the export never finished")


def test_system_export_kick_off_polling_download(world: World) -> None:
    status_url = kick_off(world, "/fhir/$export")
    progress, body = poll(world, status_url)
    assert progress == [f"{n} of 7 resource types exported" for n in range(1, 7)]  # each poll exports one type
    assert set(body) == {"transactionTime", "request", "requiresAccessToken", "output", "error"}
    assert body["request"] == "http://localhost/fhir/$export" and body["requiresAccessToken"] is True
    assert body["error"] == [] and body["transactionTime"].endswith("Z")
    by_type = {o["type"]: o for o in body["output"]}
    assert set(by_type) == {"CarePlan", "Condition", "Goal", "Observation", "Patient", "Procedure",
                            "QuestionnaireResponse"}
    patients = world.get(by_type["Patient"]["url"].removeprefix("http://localhost"), "system")
    assert patients.status_code == 200 and patients.mimetype == "application/fhir+ndjson"
    lines = [json.loads(line) for line in patients.get_data().splitlines()]
    patients.close()
    assert sorted(p["id"] for p in lines) == sorted(world.patients.values()) == sorted(
        p["id"] for p in lines if p["resourceType"] == "Patient")
    observations = world.get(by_type["Observation"]["url"].removeprefix("http://localhost"), "system")
    assert len(observations.get_data().splitlines()) == by_type["Observation"]["count"] > 10
    observations.close()
    # another client neither sees the job nor its files
    assert world.get(status_url, "writer").status_code == 403  # user/ scope: system/ only
    world.tokens["system2"] = world.issuer.token("system/*.rs", sub="sub-other-system")
    assert world.get(status_url, "system2").status_code == 404


def test_patient_export_with_type_and_since_then_cancel(world: World) -> None:
    status_url = kick_off(world, "/fhir/Patient/$export?_type=Goal,Patient&_outputFormat=application/fhir%2Bndjson")
    progress, body = poll(world, status_url)
    assert progress == ["1 of 2 resource types exported"]
    assert [o["type"] for o in body["output"]] == ["Goal", "Patient"]
    assert world.client.delete(status_url, headers=world.headers("system")).status_code == 202
    assert world.get(status_url, "system").status_code == 404  # cancelled: gone, files too
    later = kick_off(world, "/fhir/$export?_since=2999-01-01T00:00:00Z")
    assert poll(world, later)[1]["output"] == []


@pytest.mark.parametrize("url,headers,who,status,expression", [
    ("/fhir/$export", {"Accept": "application/fhir+json"}, "system", 400, "Prefer"),
    ("/fhir/$export?_type=Questionnaire", ASYNC, "system", 400, "_type"),
    ("/fhir/$export?_since=yesterday", ASYNC, "system", 400, "_since"),
    ("/fhir/$export?_outputFormat=text/csv", ASYNC, "system", 400, "_outputFormat"),
    ("/fhir/$export?_typeFilter=Goal%3Fstatus%3Dactive", ASYNC, "system", 400, "_typeFilter"),
    ("/fhir/$export", ASYNC, "patient_a", 403, None),
    ("/fhir/Patient/$export", ASYNC, "user_careplan", 403, None),
    ("/fhir/$export", ASYNC, None, 401, None),
])
def test_kick_off_refusals(world: World, url: str, headers: dict[str, str], who: str | None, status: int,
                           expression: str | None) -> None:
    response = world.client.get(url, headers={**headers, **world.headers(who)})
    assert response.status_code == status, response.get_data(as_text=True)
    issue = response.get_json(force=True)["issue"][0]
    if expression:
        assert issue["expression"] == [expression]
    assert "Content-Location" not in response.headers


def test_jobs_survive_another_worker(world: World) -> None:
    """A second app on the same database (another gunicorn worker) polls the job the first one created."""
    status_url = kick_off(world, "/fhir/$export?_type=Patient,Goal")
    assert world.get(status_url, "system").status_code == 202
    other = create_app(world.app.extensions["etmi"].settings)
    try:
        response = other.test_client().get(status_url, headers=world.headers("system"))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert {o["type"]: o["count"] for o in response.get_json(force=True)["output"]} == {"Patient": 2, "Goal": 2}
    finally:
        other.extensions["etmi"].store.close()


def test_a_job_held_by_another_worker_waits_and_a_dead_workers_lock_is_taken_over(store: Store,
                                                                                    tmp_path: Path) -> None:
    jobs = Jobs(tmp_path / "bulk")
    job = jobs.create("sub-1", "http://x/fhir/$export", ["Patient", "Goal"], None, False, utcnow())
    assert jobs.get(job.id, "sub-2") is None and jobs.get("../etc", "sub-1") is None
    lock = tmp_path / "bulk" / job.id / ".lock"
    lock.touch()  # another worker is exporting a type
    assert jobs.advance(job, store.sessions).pending == ["Patient", "Goal"]
    os.utime(lock, (time.time() - STALE_LOCK - 1,) * 2)  # ... and died doing it
    advanced = jobs.advance(job, store.sessions)
    assert advanced.pending == ["Goal"] and advanced.done == {"Patient": 0} and not lock.exists()
    jobs.cancel(advanced)
    assert jobs.get(job.id, "sub-1") is None and jobs.advance(advanced, store.sessions).pending == ["Goal"]
