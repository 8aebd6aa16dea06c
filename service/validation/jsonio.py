"""Reading FHIR R4 JSON as R4 defines it, before the structural validation of the parsed value.

- A UTF-8 byte order mark is skipped (RFC 8259 lets a parser ignore it; R4 says nothing against it,
  and the HL7 validator accepts such files).
- Property names SHALL be unique within an object (R4 JSON 2.6.2): a parser that keeps the last value
  silently hides the first, so each duplicate is reported as an error at its path.
- Anything else that is not JSON (``NaN``, lone surrogates, trailing commas) is a :class:`JsonProblem`.

orjson gives the value (and refuses what is not strict JSON); the standard library's scanner, with an
``object_pairs_hook``, finds duplicate names (the only thing orjson cannot tell).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

BOM = b"\xef\xbb\xbf"


class JsonProblem(ValueError):
    """The input is not JSON at all (the message says where)."""

    def issue(self) -> dict[str, Any]:
        """This problem as a fatal OperationOutcome issue."""
        return {"severity": "fatal", "code": "structure", "diagnostics": f"The content is not valid JSON: {self}"}


@dataclass(frozen=True, slots=True)
class Loaded:
    """A parsed document and the paths of property names that appeared twice in one object."""

    value: Any
    duplicates: tuple[tuple[str, str], ...] = ()  # (JSON path of the object, name)


class _Dup(dict[str, Any]):
    """An object that had duplicate names (only built when there were some)."""

    names: tuple[str, ...] = ()


def _marked(made: dict[str, Any], pairs: list[tuple[str, Any]]) -> _Dup:
    marked = _Dup(made)
    seen: set[str] = set()
    names: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in names:
            names.append(key)
        seen.add(key)
    marked.names = tuple(names)
    return marked


def _find(value: Any, path: str, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        if isinstance(value, _Dup):
            out.extend((path, name) for name in value.names)
        for key, child in value.items():
            _find(child, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            _find(child, f"{path}[{i}]", out)


def load_json(raw: bytes | str) -> Loaded:
    """Parses one JSON document (BOM skipped); raises :class:`JsonProblem` when it is not JSON."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JsonProblem(str(exc)) from None
    if not isinstance(value, dict | list) or data.count(b'"') < 4:
        return Loaded(value)
    hits: list[_Dup] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        made = dict(items)
        if len(made) == len(items):
            return made
        hits.append(_marked(made, items))
        return hits[-1]

    try:
        scanned = json.loads(data, object_pairs_hook=pairs)
    except RecursionError:
        raise JsonProblem("nested too deeply") from None
    if not hits:
        return Loaded(value)
    found: list[tuple[str, str]] = []
    _find(scanned, "", found)
    root = value.get("resourceType") if isinstance(value, dict) else None
    prefix = root if isinstance(root, str) else "$"
    return Loaded(value, tuple((_join(prefix, p), name) for p, name in found))


def _join(prefix: str, path: str) -> str:
    if not path:
        return prefix
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"
