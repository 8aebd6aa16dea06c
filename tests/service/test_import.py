"""``etmi-fhir import``: a bad file changes nothing, a good one imports through the write use-case
(FHIR resources, outbox, audit), a re-run is a no-op and an interrupted import continues."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.cli import main
from service.store import open_store
from service.store.models import AuditRow, DomainRecord, FhirResourceRow, OutboxRow

SYS = "urn:oid:2.16.840.1.113883.3.7777.1"
HEADER = ("patient_system,patient_id,date,function,pain,fear_avoidance,fabq_pa,phq2,gad2,evs_min_week,stage,"
          "session,etmi\n")
GOOD = [f"{SYS},IMP-T1,2026-01-05,48.5,6,55,18,2,1,40,contemplation,1,true\n",
        f"{SYS},IMP-T1,2026-02-02,70,3,35,12,1,1,150,action,3,true\n",
        f"{SYS},IMP-T2,2026-01-07,40,7,60,,,,0,precontemplation,,\n"]


def counts(url: str) -> tuple[int, int, int, int]:
    store = open_store(url)
    try:
        with store.sessions() as session:
            return tuple(int(session.scalar(select(func.count()).select_from(t)) or 0)  # type: ignore[return-value]
                         for t in (DomainRecord, FhirResourceRow, OutboxRow, AuditRow))
    finally:
        store.close()


def run(tmp_path: Path, url: str, text: str | bytes, *extra: str) -> int:
    path = tmp_path / "registry.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return main(["import", str(path), "--database-url", url, "--quiet", *extra])


def test_a_bad_file_changes_nothing_a_good_one_imports_once(tmp_path: Path, database_url: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = HEADER + GOOD[0] + f"{SYS},IMP-T3,2026-13-01,48,6,55,18,2,1,40,action,1,true\n" + GOOD[1][:30]
    assert run(tmp_path, database_url, bad) == 1
    err = capsys.readouterr().err
    assert "row 3, column date: not a date YYYY-MM-DD: '2026-13-01'" in err
    assert "row 4, column " in err and "truncated" in err and "nothing imported" in err
    assert counts(database_url) == (0, 0, 0, 0)

    assert run(tmp_path, database_url, HEADER + "".join(GOOD)) == 0
    assert "3 good rows of 2 patients: 3 written" in capsys.readouterr().out
    episodes, resources, outbox, audit = counts(database_url)
    assert episodes == 2 and outbox == 2 and audit == resources
    store = open_store(database_url)
    with store.sessions() as session:
        pains = sorted(r.resource["valueQuantity"]["value"] for r in session.scalars(select(FhirResourceRow).where(
            FhirResourceRow.resource_type == "Observation", FhirResourceRow.current.is_(True)))
            if r.resource["code"]["coding"][0]["code"] == "72514-3")
    store.close()
    assert pains == [3, 6, 7]

    assert run(tmp_path, database_url, HEADER + "".join(GOOD)) == 0  # the re-run is a no-op
    assert "0 written, 3 already stored" in capsys.readouterr().out
    assert counts(database_url) == (episodes, resources, outbox, audit)


def test_skip_bad_imports_the_good_rows_and_an_interrupted_import_continues(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, database_url, HEADER + GOOD[0]) == 0  # "interrupted" after the first row
    capsys.readouterr()
    mixed = HEADER + "".join(GOOD) + f"{SYS},IMP-T4,2026-01-05,48,66,55,18,2,1,40,action,1,true\n"
    assert run(tmp_path, database_url, mixed, "--skip-bad") == 0
    captured = capsys.readouterr()
    assert "row 5, column pain: pain must be between 0 and 10 ({score}); got 66" in captured.err
    assert "2 written, 1 already stored, 0 refused; 1 bad rows skipped" in captured.out
    assert counts(database_url)[0] == 2


def test_wrong_encoding_is_named(tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, database_url, (HEADER + GOOD[0]).encode("utf-16")) == 1
    assert "UTF-16" in capsys.readouterr().err
    assert counts(database_url) == (0, 0, 0, 0)
