"""Checks of primitive values: JSON type (no lax coercion), the regex of the R4 type, ranges, dates.

The regexes come from the R4 primitive type StructureDefinitions (``<type>.value`` carries the
``structuredefinition-regex`` extension), never from code.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from service.validation.definitions import Definitions

REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
INT32 = (-(2**31), 2**31 - 1)
MAX_STRING = 1024 * 1024
#: Strings known to be valid, per primitive type: only short ones, and emptied beyond this many bytes.
GOOD_MAX_LENGTH = 128
GOOD_BYTES = 256 * 1024
#: An absolute URI: a scheme, then ':' (RFC 3986).
ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
#: The R4 oid and uuid forms (the oid/uuid primitive regexes; UUID hex digits in either case, RFC 4122).
URN_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
URN_UUID = re.compile(r"urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
URI_TYPES = frozenset({"uri", "url", "canonical"})


def urn_problem(value: str) -> str | None:
    """Why a URI in the urn:oid:/urn:uuid: namespaces (or a bare oid:/uuid:) is malformed, or None."""
    if value.startswith("urn:oid:"):
        return None if URN_OID.fullmatch(value) else f"{value!r} is not a valid urn:oid: (urn:oid:1.2.3...)"
    if value.startswith("urn:uuid:"):
        return None if URN_UUID.fullmatch(value) else f"{value!r} is not a valid urn:uuid: (8-4-4-4-12 hex digits)"
    if value.startswith(("oid:", "uuid:")):
        return f"{value!r}: URIs for OIDs and UUIDs start with urn:oid: and urn:uuid:"
    return None


#: An error message for a bad value, or None when it is fine.
Check = Callable[[Any], str | None]


@dataclass(frozen=True, slots=True)
class PrimitiveSpec:
    name: str
    check: Check


def _json_kind(name: str) -> str:
    if name == "boolean":
        return "boolean"
    if name in ("integer", "positiveInt", "unsignedInt", "integer64"):
        return "integer"
    if name == "decimal":
        return "decimal"
    return "string"


def _calendar_ok(text: str) -> bool:
    match = _DATE.match(text)
    if match is None:
        return True
    year, month, day = (int(g) for g in match.groups())
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def _make_check(name: str, regex: re.Pattern[str] | None) -> Check:
    kind = _json_kind(name)
    if kind == "boolean":
        return lambda v: None if v is True or v is False else f"must be a JSON boolean (true/false), not {v!r}"
    if kind == "integer":
        low = 1 if name == "positiveInt" else 0 if name == "unsignedInt" else INT32[0]

        def check_int(v: Any) -> str | None:
            if type(v) is not int:
                return f"must be a JSON integer, not {v!r}"
            if not low <= v <= INT32[1]:
                return f"integer {v} is out of range for {name}"
            return None

        return check_int
    if kind == "decimal":
        return lambda v: (
            None if (type(v) in (int, float) or isinstance(v, Decimal)) else f"must be a JSON number, not {v!r}"
        )
    dated = name in ("date", "dateTime", "instant")
    canonical = name == "canonical"
    uri = name in URI_TYPES
    good: set[str] = set()
    held = [0]  # bytes of the strings in good (about: length + str overhead)

    def check_str(v: Any) -> str | None:
        if type(v) is str and v in good:
            return None
        if type(v) is not str:
            return f"must be a JSON string, not {v!r}"
        if not v.strip():
            return "must not be empty or only whitespace"
        if len(v) > MAX_STRING:
            return "is longer than 1 MB"
        if regex is not None and regex.fullmatch(v) is None:
            return f"{v!r} is not a valid {name}"
        if dated and not _calendar_ok(v):
            return f"{v!r} is not a valid {name} (no such day)"
        if canonical and not v.startswith("#") and ABSOLUTE.match(v) is None:
            return f"{v!r}: canonical URLs must be absolute URLs if they are not fragment references"
        if uri and (problem := urn_problem(v)) is not None:
            return problem
        if len(v) < GOOD_MAX_LENGTH:
            if held[0] > GOOD_BYTES:
                good.clear()
                held[0] = 0
            good.add(v)
            held[0] += len(v) + 64
        return None

    return check_str


def build_primitives(defs: Definitions) -> dict[str, PrimitiveSpec]:
    """One spec per R4 primitive type, with the regexes from the primitive StructureDefinitions."""
    specs: dict[str, PrimitiveSpec] = {}
    for url, summary in defs.summaries.items():
        if summary.get("kind") != "primitive-type" or summary.get("derivation") == "constraint":
            continue
        sd = defs.structures[url]
        name = sd["type"]
        regex = None
        for element in sd["elements"]:
            if element["path"] == f"{name}.value":
                for ext in element.get("type", [{}])[0].get("extension", []):
                    if ext.get("url") == REGEX_EXT:
                        regex = re.compile(ext["valueString"])
        if name == "xhtml":
            regex = None  # checked by the narrative rules
        specs[name] = PrimitiveSpec(name, _make_check(name, regex))
    return specs


def type_code(type_entry: dict[str, Any]) -> str:
    """A snapshot type code, mapping the FHIRPath System types to their FHIR type."""
    code: str = type_entry.get("code", "")
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in type_entry.get("extension", []):
            if ext.get("url") == FHIR_TYPE_EXT:
                value: str = ext.get("valueUrl") or ext.get("valueUri") or "string"
                return value
        return "string"
    return code
