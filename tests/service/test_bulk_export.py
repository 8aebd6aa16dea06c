"""Export: ``etmi-fhir export`` (NDJSON per type, every line valid per ``etmi-fhir validate``; the outcomes
CSV imports again) and the façade's Bulk Data ``$export`` (kick-off, polling, download, cancel)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from service.cli import main


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
