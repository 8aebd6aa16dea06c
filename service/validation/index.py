"""The on-disk index of the trimmed R4 core definitions: data only, parsed lazily.

The index used to be a pickle, which runs code on load: anyone who can write the definitions folder
could run code in the service. It is now one file of JSON documents that nothing but ``orjson.loads``
ever reads:

    line 1:  a header (JSON): format, the source files' sizes and mtimes, a summary of every
             StructureDefinition (type, kind, derivation, abstract) and, per kind, the byte range of
             each resource in the body
    rest:    the trimmed resources, one JSON document after the other

Only the header is parsed at start; a resource is parsed the first time it is looked up (a validation
touches a few dozen of the ~4,000 resources), so start-up is faster than the pickle was. A header
that does not parse, or whose format or source stamp differs, makes the index be rebuilt from the
source bundles; old ``index-*.pickle`` files are deleted, never read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import orjson

FORMAT = "etmi-r4-index/5"  # bump whenever definitions._trim_* keep something else
KINDS = ("structures", "value_sets", "code_systems")
JSON = dict[str, Any]


class LazyResources(MutableMapping[str, JSON]):
    """Resources by URL: parsed from the index body on first access, or added already parsed."""

    def __init__(self, body: memoryview | None = None, ranges: dict[str, list[int]] | None = None) -> None:
        self._body = body
        self._ranges = ranges or {}
        self._parsed: dict[str, JSON] = {}

    def __getitem__(self, url: str) -> JSON:
        found = self._parsed.get(url)
        if found is None:
            start, end = self._ranges[url]  # KeyError when unknown
            assert self._body is not None
            found = self._parsed[url] = orjson.loads(self._body[start:end])
        return found

    def get(self, url: str, default: Any = None) -> Any:
        try:
            return self[url]
        except KeyError:
            return default

    def __contains__(self, url: object) -> bool:
        return url in self._parsed or url in self._ranges

    def __setitem__(self, url: str, resource: JSON) -> None:
        self._parsed[url] = resource

    def __delitem__(self, url: str) -> None:
        self._parsed.pop(url, None)
        self._ranges.pop(url, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._parsed
        yield from (url for url in self._ranges if url not in self._parsed)

    def __len__(self) -> int:
        return len(self._parsed) + sum(1 for url in self._ranges if url not in self._parsed)


def source_stamp(directory: Path, names: tuple[str, ...]) -> list[list[Any]]:
    """Name, size and mtime (ns) of every source bundle: a changed source makes a new index."""
    stamp = []
    for name in names:
        info = (directory / f"{name}.json").stat()
        stamp.append([name, info.st_size, info.st_mtime_ns])
    return stamp


def write_index(path: Path, stamp: list[list[Any]], summaries: JSON, kinds: dict[str, Mapping[str, JSON]]) -> None:
    """Writes header + body atomically (a temporary file renamed over the index)."""
    chunks: list[bytes] = []
    offset = 0
    ranges: dict[str, dict[str, list[int]]] = {}
    for kind in KINDS:
        ranges[kind] = {}
        for url, resource in kinds[kind].items():
            raw = orjson.dumps(resource)
            ranges[kind][url] = [offset, offset + len(raw)]
            chunks.append(raw)
            offset += len(raw)
    header = orjson.dumps({"format": FORMAT, "source": stamp, "summaries": summaries, "ranges": ranges})
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with tmp.open("wb") as handle:
        handle.write(header + b"\n")
        handle.writelines(chunks)
    tmp.replace(path)


def read_index(path: Path, stamp: list[list[Any]]) -> tuple[JSON, dict[str, LazyResources]] | None:
    """(summaries, resources by kind) from an index matching ``stamp``; None if absent or stale."""
    try:
        data = path.read_bytes()
        end = data.index(b"\n")
        header = orjson.loads(data[:end])
    except (OSError, ValueError):
        return None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("source") != stamp:
        return None
    body = memoryview(data)[end + 1 :]
    ranges = header.get("ranges") or {}
    return header["summaries"], {kind: LazyResources(body, ranges.get(kind) or {}) for kind in KINDS}
