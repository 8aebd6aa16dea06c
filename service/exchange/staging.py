"""A temporary SQLite file holding the checked rows: duplicates found and rows grouped by patient
without keeping the registry in memory (bounded memory whatever the file's size)."""

from __future__ import annotations

import itertools
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from service.exchange.registry import Row, RowError

BATCH = 1000


class Staging:
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="etmi-import-")
        self.db = sqlite3.connect(Path(self._dir.name) / "rows.db")
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE row (number INTEGER PRIMARY KEY, patient TEXT NOT NULL, day TEXT NOT NULL, "
                        "data TEXT NOT NULL, UNIQUE (patient, day))")
        self._pending: list[Row] = []
        self.count = 0

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()
        self._dir.cleanup()

    def add(self, row: Row) -> list[RowError]:
        """Keep the row; a second row of the same patient and date is refused, naming the first."""
        self._pending.append(row)
        return self.flush() if len(self._pending) >= BATCH else []

    def flush(self) -> list[RowError]:
        errors: list[RowError] = []
        with self.db:
            for row in self._pending:
                try:
                    self.db.execute("INSERT INTO row VALUES (?, ?, ?, ?)",
                                    (row.number, row.key(), row.day, json.dumps(row.to_json())))
                    self.count += 1
                except sqlite3.IntegrityError:
                    first = self.db.execute("SELECT number FROM row WHERE patient = ? AND day = ?",
                                            (row.key(), row.day)).fetchone()[0]
                    errors.append(RowError(row.number, "date", f"duplicate: row {first} has the same patient "
                                                               "and date"))
        self._pending.clear()
        return errors

    def patients(self) -> Iterator[list[Row]]:
        """Each patient's rows in date order, one patient at a time."""
        cursor = self.db.execute("SELECT patient, data FROM row ORDER BY patient, day")
        for _, group in itertools.groupby(cursor, key=lambda item: item[0]):
            yield [Row.from_json(json.loads(data)) for _, data in group]

    def patient_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(DISTINCT patient) FROM row").fetchone()[0])
