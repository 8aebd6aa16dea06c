"""R4 JSON's primitive elements for fhirpathpy: a value and its ``_`` part are one element.

In R4 JSON a primitive element is split over two properties: ``"status": "final"`` carries the value,
``"_status": {"id": ..., "extension": [...]}`` its id and extensions (arrays are aligned by index,
with ``null`` where one side is absent). fhirpathpy 2.2.4 returns the two properties as two separate
items, so ``status`` is a collection of two when ``_status`` exists: ``status = 'final'`` is false,
``count()`` doubles and ``single()`` fails. Every FHIRPath invariant was affected the same way
(profile status rules, con-4 on ``coding._code``, ...).

This module replaces fhirpathpy's member navigation with one that yields one node per element: the
value as the node's data and the ``_`` part as its ``_data`` (as fhirpath.js does); an element with
only a ``_`` part is a node without a value. Navigating ``extension`` or ``id`` on such a node reads
its ``_`` part.

It also gives ``<``, ``<=``, ``>``, ``>=`` on date, dateTime and instant values FHIRPath's precision
rule: values that agree up to the shorter precision compare as empty (unknown), so an invariant such
as per-1 (``start <= end``) fails for a start of ``2023-06-21`` and an end of ``2023-06-21T06:20:00Z``,
as in the HL7 validator (fhirpathpy said true). Installed once by :mod:`service.validation.invariants`.
"""

from __future__ import annotations

import importlib
import re
from collections import abc
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from fhirpathpy.engine import nodes, util

_Node: Any = nodes.ResourceNode
_is_some: Any = util.is_some


def _children(value: Any, extra: Any, child: str, full: str) -> list[Any]:
    """Nodes of one property: value and ``_`` part merged by index."""
    if isinstance(value, list) or isinstance(extra, list):
        values = value if isinstance(value, list) else []
        extras = extra if isinstance(extra, list) else []
        out = []
        for i in range(max(len(values), len(extras))):
            item = values[i] if i < len(values) else None
            more = extras[i] if i < len(extras) else None
            if item is not None or more is not None:
                out.append(_Node(item, child, more, f"{full}[{i}]", i))
        return out
    if value is None and extra is None:
        return []
    return [_Node(value, child, extra, full)]


def _reduce_member(model: Any, key: str) -> Any:
    def func(acc: list[Any], res: Any) -> list[Any]:
        res = _Node.create_node(res)
        child = f"{res.path}.{key}" if res.path else f"_.{key}"
        full = (f"{res.propName}.{key}" if res.propName else child).replace("_", "")
        actual_types = None
        if isinstance(model, dict):
            child = model["pathsDefinedElsewhere"].get(child, child)
            actual_types = model["choiceTypePaths"].get(child)
        data = res.data
        value: Any = None
        extra: Any = None
        if isinstance(data, nodes.FP_Quantity):
            value = data.value
        elif isinstance(data, abc.Mapping):
            if actual_types:
                for actual in actual_types:
                    value, extra = data.get(key + actual), data.get(f"_{key}{actual}")
                    if value is not None or extra is not None:
                        child += actual
                        break
            else:
                value, extra = data.get(key), data.get(f"_{key}")
                if key == "extension":
                    child = "Extension"
        elif isinstance(res._data, abc.Mapping) and key in ("extension", "id"):
            value = res._data.get(key)  # the id and extensions of a primitive live in its _ part
            child = "Extension" if key == "extension" else "string"
        elif key == "length" and data is not None:
            value = len(data)
        if isinstance(model, dict) and "path2Type" in model:
            child = model["path2Type"].get(child, child)
        if _is_some(value) or _is_some(extra):
            acc = acc + _children(value, extra, child, full)
        return acc

    return func


def install() -> None:
    """Makes fhirpathpy's member navigation treat ``x`` and ``_x`` as one element (idempotent)."""
    # fhirpathpy.engine binds the name ``evaluators`` to a dict: reach the module itself
    module = importlib.import_module("fhirpathpy.engine.evaluators")
    module.create_reduce_member_invocation = _reduce_member  # type: ignore[attr-defined]
    _install_ordering()


# --- date/time comparison with FHIRPath's precision rule ---------------------------------------------
#: date, dateTime, instant: year, month, day, hour, minute, seconds (with fraction), zone.
_WHEN = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?(Z|[+-]\d{2}:\d{2})?)?)?)?")
_TEMPORAL = frozenset({"date", "dateTime", "instant"})


def _parts(text: str) -> list[Any] | None:
    match = _WHEN.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    parts: list[Any] = [int(g) for g in (year, month, day, hour, minute) if g is not None]
    if second is not None:
        parts.append(Decimal(second))
    if zone is not None and len(parts) >= 5:
        offset = 0 if zone == "Z" else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 60 + int(zone[4:6]))
        y, mo, d, h, mi = (int(p) for p in parts[:5])
        moment = datetime(y, mo, d, h, mi, tzinfo=timezone(timedelta(minutes=offset))).astimezone(UTC)
        parts[:5] = [moment.year, moment.month, moment.day, moment.hour, moment.minute]
    return parts


def compare_temporal(left: str, right: str) -> int | None:
    """-1, 0 or 1; None when the values differ in precision and agree on the shared precision
    (FHIRPath: "the result is empty to indicate that the result of the comparison is unknown")."""
    a, b = _parts(left), _parts(right)
    if a is None or b is None:
        return None
    for x, y in zip(a, b, strict=False):
        if x != y:
            return -1 if x < y else 1
    return 0 if len(a) == len(b) else None


def _temporal(items: list[Any]) -> str | None:
    if len(items) != 1 or not isinstance(items[0], _Node) or items[0].path not in _TEMPORAL:
        return None
    data = items[0].data
    return data if isinstance(data, str) else None


def _ordering(original: Any, test: Any) -> Any:
    def compare(ctx: Any, a: list[Any], b: list[Any]) -> Any:
        left, right = _temporal(a), _temporal(b)
        if left is None or right is None:
            return original(ctx, a, b)
        result = compare_temporal(left, right)
        return [] if result is None else [test(result)]

    return compare


def _install_ordering() -> None:
    table = importlib.import_module("fhirpathpy.engine.invocations").invocation_registry
    tests = {"<": lambda r: r < 0, "<=": lambda r: r <= 0, ">": lambda r: r > 0, ">=": lambda r: r >= 0}
    for op, test in tests.items():
        entry = table[op]
        if not getattr(entry["fn"], "etmi_temporal", False):
            entry["fn"] = _ordering(entry["fn"], test)
            entry["fn"].etmi_temporal = True
