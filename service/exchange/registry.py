"""The column mapping of an outcome registry (``docs/import-export.md``) and the check of one row.

One row is one patient at one time point: the patient's business identifier, the date and any of the
instrument scores (the score kinds of ``mappings.outcome``), optionally the session held that day.
Every problem of a row is reported, each naming its row and column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mappings.canonical import TTM_STAGES
from mappings.outcome import OBSERVATION_KINDS, check_value

#: column -> score kind (``mappings.outcome.OBSERVATION_KINDS``)
INSTRUMENTS: dict[str, str] = {
    "function": "function", "pain": "pain", "fear_avoidance": "fear-avoidance", "fabq_pa": "fabq-pa",
    "fabq_w": "fabq-w", "phq2": "phq2", "gad2": "gad2", "evs_min_week": "evs-min-per-week", "stage": "ttm-stage",
}
REQUIRED = ("patient_system", "patient_id", "date")
OTHER = ("session", "etmi")
COLUMNS = (*REQUIRED, *INSTRUMENTS, *OTHER)
MAX_CELL = 255


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class Row:
    """A checked row: ``scores`` maps a score kind to its value."""

    number: int
    system: str
    value: str
    day: str
    scores: dict[str, int | float | str] = field(default_factory=dict)
    session: int | None = None
    etmi: bool = False

    def key(self) -> str:
        return f"{self.system}|{self.value}"

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "system": self.system, "value": self.value, "day": self.day,
                "scores": self.scores, "session": self.session, "etmi": self.etmi}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        return cls(**data)


def unknown_columns(names: list[str], row: int) -> list[RowError]:
    """Header problems: unknown instruments (with the known ones), a missing required column, a repeat."""
    errors = [RowError(row, n, f"unknown column (known: {', '.join(COLUMNS)})") for n in names if n not in COLUMNS]
    errors += [RowError(row, n, "required column missing") for n in REQUIRED if n not in names]
    errors += [RowError(row, n, "column given twice") for i, n in enumerate(names) if n in names[:i]]
    return errors


def check_row(number: int, cells: dict[str, Any]) -> tuple[Row | None, list[RowError]]:
    """The row's values (CSV cells are text, NDJSON values may be numbers); every problem at once."""
    errors = [RowError(number, k, "not UTF-8 (undecodable bytes)") for k, v in cells.items()
              if isinstance(v, str) and _undecodable(v)]
    if errors:
        return None, errors
    errors += [RowError(number, k, f"unknown column (known: {', '.join(COLUMNS)})") for k in cells if k not in COLUMNS]
    texts = {k: _text(cells.get(k)) for k in REQUIRED}
    errors += [RowError(number, k, "required, empty") for k, v in texts.items() if not v]
    errors += [RowError(number, k, f"longer than {MAX_CELL} characters") for k, v in texts.items()
               if len(v) > MAX_CELL]
    if texts["date"] and not _is_date(texts["date"]):
        errors.append(RowError(number, "date", f"not a date YYYY-MM-DD: {texts['date'][:40]!r}"))
    row = Row(number, texts["patient_system"], texts["patient_id"], texts["date"])
    for column, kind in INSTRUMENTS.items():
        raw = cells.get(column)
        if raw is None or _text(raw) == "":
            continue
        parsed, problem = _score(kind, raw)
        if problem:
            errors.append(RowError(number, column, problem))
        else:
            row.scores[kind] = parsed
    row.session, session_error = _session(cells.get("session"))
    if session_error:
        errors.append(RowError(number, "session", session_error))
    row.etmi, etmi_error = _flag(cells.get("etmi"))
    if etmi_error:
        errors.append(RowError(number, "etmi", etmi_error))
    if not errors and not row.scores and row.session is None:
        errors.append(RowError(number, None, "no score and no session: nothing to import"))
    return (None if errors else row), errors


def _undecodable(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _score(kind: str, raw: Any) -> tuple[int | float | str, str | None]:
    if kind == "ttm-stage":
        code = _text(raw).lower()
        return code, None if code in TTM_STAGES else f"stage of change must be one of {', '.join(TTM_STAGES)}"
    number = _number(raw)
    if number is None:
        return 0, f"not a number: {_text(raw)[:40]!r}"
    issues = check_value(OBSERVATION_KINDS[kind], number, "")
    return number, issues[0].diagnostics if issues else None


def _number(raw: Any) -> int | float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        try:
            value = float(_text(raw).replace(",", "."))
        except ValueError:
            return None
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() else value


def _session(raw: Any) -> tuple[int | None, str | None]:
    if raw is None or _text(raw) == "":
        return None, None
    number = _number(raw)
    if not isinstance(number, int) or not 1 <= number <= 99:
        return None, f"session number must be a whole number 1-99, not {_text(raw)[:40]!r}"
    return number, None


def _flag(raw: Any) -> tuple[bool, str | None]:
    if isinstance(raw, bool):
        return raw, None
    text = _text(raw).lower()
    if text in ("", "0", "false", "no", "n"):
        return False, None
    if text in ("1", "true", "yes", "y"):
        return True, None
    return False, f"must be true or false, not {text[:40]!r}"
