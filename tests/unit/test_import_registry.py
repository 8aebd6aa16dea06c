"""The registry reader and row checks: every problem of a malformed file named by row and column."""

from __future__ import annotations

import io

from service.exchange.reader import Cells, FileRefused, rows
from service.exchange.registry import RowError, check_row
from service.exchange.staging import Staging

HEADER = b"patient_system,patient_id,date,function,pain,stage,session,etmi\n"
SYS = b"urn:oid:2.16.840.1.113883.3.7777.1"


def problems(data: bytes, kind: str = "csv") -> list[str]:
    found: list[str] = []
    with Staging() as staging:
        for item in rows(io.BytesIO(data), kind):
            if isinstance(item, RowError):
                found.append(str(item))
                continue
            assert isinstance(item, Cells)
            row, errors = check_row(item.number, item.cells)
            found += [str(e) for e in errors]
            if row is not None:
                found += [str(e) for e in staging.add(row)]
        found += [str(e) for e in staging.flush()]
    return found


def test_malformed_csv_names_every_row_and_column() -> None:
    data = (HEADER
            + SYS + b",P1,2026-02-30,50,3,action,1,true\n"        # row 2: no such date
            + SYS + b",P2,2026-01-05,101,11,action,1,maybe\n"     # row 3: function and pain out of range, etmi
            + SYS + b",P3,2026-01-05,50,3,walking,0,\n"           # row 4: stage unknown, session 0
            + SYS + b",P4,2026-01-05,50,3,action,1,\n"            # row 5: good
            + SYS + b",P4,2026-01-05,51,3,action,1,\n"            # row 6: duplicate of row 5
            + SYS + b",P\xe9,2026-01-06,50,3,action,1,\n"         # row 7: Latin-1, not UTF-8
            + SYS + b",P5,2026-01-07,50")                         # row 8: truncated last line
    assert problems(data) == [
        "row 2, column date: not a date YYYY-MM-DD: '2026-02-30'",
        "row 3, column function: function must be between 0 and 100 ({score}); got 101",
        "row 3, column pain: pain must be between 0 and 10 ({score}); got 11",
        "row 3, column etmi: must be true or false, not 'maybe'",
        "row 4, column stage: stage of change must be one of precontemplation, contemplation, preparation, "
        "action, maintenance, relapse",
        "row 4, column session: session number must be a whole number 1-99, not '0'",
        "row 7, column patient_id: not UTF-8 (undecodable bytes)",
        "row 8, column function: truncated: 4 of 8 columns and no line end",
        "row 6, column date: duplicate: row 5 has the same patient and date",
    ]


def test_unknown_instrument_and_missing_column_in_the_header() -> None:
    found = problems(b"patient_system,date,pain,oswestry\n" + SYS + b",2026-01-05,3,20\n")
    assert found[0].startswith("row 1, column oswestry: unknown column (known: patient_system, patient_id, date")
    assert found[1] == "row 1, column patient_id: required column missing"
    assert len(found) == 2  # no data row is read under a wrong header


def test_quoted_cells_and_a_complete_last_line_without_newline() -> None:
    data = HEADER + SYS + b',"P,1",2026-01-05,"48,5",3,,,\n' + SYS + b",P2,2026-01-05,50,3,action,2,yes"
    assert problems(data) == []


def test_ndjson_rows() -> None:
    good = b'{"patient_system": "urn:x", "patient_id": "P1", "date": "2026-01-05", "pain": 3, "fabq_pa": 12}\n'
    assert problems(good, "ndjson") == []
    bad = (good + b'{"patient_system": "urn:x", "patient_id": "P1", "date": "2026-01-06", "pain": true, "sf36": 1}\n'
           + b'[1]\n' + b'{"patient_system": "urn:x", "patient_id": "P1", "da')
    found = problems(bad, "ndjson")
    assert found == [
        "row 2, column sf36: unknown column (known: patient_system, patient_id, date, function, pain, "
        "fear_avoidance, fabq_pa, fabq_w, phq2, gad2, evs_min_week, stage, session, etmi)",
        "row 2, column pain: not a number: 'True'",
        "row 3: not a JSON object",
        "row 4: truncated: the last line is incomplete JSON",
    ]


def test_utf16_and_empty_files_are_refused_whole() -> None:
    for data, text in ((b"\xff\xfep\x00a\x00", "UTF-16"), (b"", "empty")):
        try:
            problems(data)
        except FileRefused as err:
            assert text in str(err)
        else:
            raise AssertionError("not refused")
