"""Streaming rows of a registry file (CSV with a header, or NDJSON), one at a time with their line numbers.

Lines are decoded as UTF-8 one by one; undecodable bytes are kept as surrogates so the check of the
row names the column that holds them. A last line without a line end that is short of columns (CSV) or
not JSON (NDJSON) is reported as truncated. A UTF-16 file (byte order mark) is refused as a whole.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from service.exchange.registry import RowError, unknown_columns

MAX_LINE = 1 << 20  # one registry row never needs a megabyte


class FileRefused(ValueError):
    """The file cannot be read as a registry at all (encoding, empty, no header)."""


@dataclass
class Cells:
    number: int
    cells: dict[str, Any]


class _Lines:
    """Decoded lines of a binary stream; counts them and remembers whether the last one ended."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle, self.count, self.ended, self.bytes = handle, 0, True, 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            self.count += 1
            self.bytes += len(raw)
            if self.count == 1:
                if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                    raise FileRefused("the file is UTF-16: save it as UTF-8")
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if len(raw) > MAX_LINE:
                raise FileRefused(f"row {self.count}: longer than {MAX_LINE} bytes")
            self.ended = raw.endswith(b"\n")
            yield raw.decode("utf-8", errors="surrogateescape")


def rows(handle: IO[bytes], kind: str) -> Iterator[Cells | RowError]:
    """``kind`` is ``csv`` or ``ndjson``; yields each row's cells, or a ``RowError`` for a row that has none."""
    lines = _Lines(handle)
    return _csv(lines) if kind == "csv" else _ndjson(lines)


def _csv(lines: _Lines) -> Iterator[Cells | RowError]:
    reader = csv.reader(iter(lines), strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise FileRefused("the file is empty: a CSV registry starts with a header row") from None
    except csv.Error as err:
        raise FileRefused(f"row 1: not CSV ({err})") from None
    if problems := unknown_columns(header, 1):
        yield from problems
        return
    start = lines.count + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield RowError(start, None, f"not CSV ({err}); the file may be truncated")
            return
        number, start = start, lines.count + 1
        if not record or record == [""]:
            continue
        if len(record) != len(header):
            short = not lines.ended and len(record) < len(header)
            yield RowError(number, header[min(len(record), len(header)) - 1] if short else None,
                           f"truncated: {len(record)} of {len(header)} columns and no line end" if short
                           else f"{len(record)} columns, the header has {len(header)}")
            continue
        yield Cells(number, dict(zip(header, record, strict=True)))


def _ndjson(lines: _Lines) -> Iterator[Cells | RowError]:
    for text in lines:
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except ValueError as err:
            truncated = not lines.ended
            yield RowError(lines.count, None, ("truncated: the last line is incomplete JSON" if truncated
                                               else f"not JSON ({getattr(err, 'msg', str(err))[:80]})"))
            continue
        if not isinstance(data, dict):
            yield RowError(lines.count, None, "not a JSON object")
            continue
        yield Cells(lines.count, {str(k).strip().lower(): v for k, v in data.items()})
