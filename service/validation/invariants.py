"""FHIRPath invariants: compiled once with fhirpathpy, evaluated with result caching.

An expression is split at a top-level ``or`` (or one ``implies``) so each part can be decided on its
own. A part that reads only members of its context node (no ``%resource``, ``$this`` or
context-wide functions) is a pure function of those members, so its result is cached by their JSON
(exact, not a heuristic). A few core invariants fhirpathpy can't run (``htmlChecks()``) or that
walk the whole resource have native equivalents in :mod:`service.validation.natives`, used only
when the definition's expression is exactly the R4 one (tests compare them with fhirpathpy).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
from fhirpathpy import apply_parsed_path
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser import parse

from service.validation.budget import INVARIANTS, key_bytes
from service.validation.fhirpath_json import install
from service.validation.natives import NATIVES, PARTIAL
from service.validation.ranges import range_native

install()

MODEL = models["r4"]


def _has_value(inputs: list[Any]) -> list[bool]:
    """FHIRPath hasValue() (missing in fhirpathpy 2.2.4): one primitive item with a value."""
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)]


_OPTIONS = {"traceFn": lambda *_: None, "userInvocationTable": {"hasValue": {"fn": _has_value, "arity": {0: []}}}}
_TOKEN = re.compile(r"'(?:[^'\\]|\\.)*'|`[^`]*`|[%$]?[A-Za-z_][A-Za-z0-9_]*|@[0-9T:.+\-Z]+|\d+(?:\.\d+)?|\S")
_KEYWORDS = frozenset({"and", "or", "xor", "implies", "div", "mod", "in", "contains", "is", "as", "true", "false"})
_CACHE_LIMIT = 4096
#: Cache keys: the JSON of what a part reads when it is this short (an exact copy), else a 16-byte digest of
#: it with a NUL first (JSON never starts with one): an entry stays under ~0.4 KiB whatever the content.
_RAW_KEY_BYTES = 128


def _compact(raw: bytes) -> bytes:
    """A key's bytes as stored: an exact-size copy (orjson's bytes hold its whole buffer)."""
    return bytes(memoryview(raw))


#: Expressions fhirpathpy failed to evaluate (counted as passing; reported by the bench/tests).
FAILURES: dict[str, str] = {}
_MISSING = object()


def selected_keys(
    data: dict[str, Any],
    members: frozenset[str],
    memo: dict[tuple[str, ...], tuple[str, ...]],
) -> tuple[str, ...]:
    """The keys of ``data`` that hold ``members`` (``valueQuantity`` for ``value``, ``_given`` for
    ``given``), memoised in ``memo`` by the data's key set."""
    signature = tuple(data)
    found = memo.get(signature)
    if found is None:
        found = tuple(
            key
            for key in signature
            if (name := key.removeprefix("_")) in members
            or any(name.startswith(m) and name[len(m) : len(m) + 1].isupper() for m in members)
        )
        if len(memo) >= _CACHE_LIMIT:
            memo.clear()
        memo[signature] = found
    return found


def _tokens(expression: str) -> list[str]:
    return _TOKEN.findall(expression)


def _split_top(expression: str, word: str) -> list[str]:
    """Splits at a top-level keyword (outside parentheses and string literals)."""
    parts, depth, start = [], 0, 0
    pattern = re.compile(rf"'(?:[^'\\]|\\.)*'|[()]|\b{word}\b")
    for match in pattern.finditer(expression):
        text = match.group()
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif text == word and depth == 0:
            parts.append(expression[start : match.start()].strip())
            start = match.end()
    parts.append(expression[start:].strip())
    return parts


def _analyse(expression: str) -> tuple[frozenset[str] | None, bool]:
    """(members of the context read, or None if the whole node matters; whether cacheable)."""
    tokens = _tokens(expression)
    members: set[str] = set()
    whole, cacheable = False, True
    for i, token in enumerate(tokens):
        prev = tokens[i - 1] if i else ""
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token.startswith("%"):
            cacheable = cacheable and token == "%ucum"
        elif token == "$this" or token.startswith("$"):
            whole = True
        elif token[0] == "`" or (token[0].isalpha() or token[0] == "_"):
            name = token.strip("`")
            if prev == "." or name in _KEYWORDS:
                continue
            if nxt == "(":
                whole = whole or name != "iif"
            else:
                members.add(name)
    return (None if whole else frozenset(members)), cacheable


class Part:
    """One separately decidable piece of an invariant, with its result cache."""

    __slots__ = ("__weakref__", "cache", "cacheable", "expression", "key_memo", "members", "parsed")

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.parsed = parse(expression)  # type: ignore[no-untyped-call]
        self.members, self.cacheable = _analyse(expression)
        self.cache: dict[Any, list[Any]] = {}
        self.key_memo: dict[tuple[str, ...], tuple[str, ...]] = {}
        INVARIANTS.register(self)

    def _selected(self, data: dict[str, Any]) -> tuple[str, ...]:
        return selected_keys(data, self.members or frozenset(), self.key_memo)

    def evaluate(self, data: Any, base: str, env: dict[str, Any]) -> list[Any]:
        if not self.cacheable:
            return self._run(data, base, env)
        try:
            if self.members is not None:
                projected = {k: data[k] for k in self._selected(data)} if isinstance(data, dict) else data
                key: Any = (base, key_bytes(orjson.dumps(projected), _RAW_KEY_BYTES) if projected else b"")
                if not projected:
                    data = {}
            else:
                key = (base, key_bytes(orjson.dumps(data), _RAW_KEY_BYTES))
        except TypeError:
            return self._run(data, base, env)
        found = self.cache.get(key, _MISSING)  # looked up with orjson's bytes as they are, copied when stored
        if found is _MISSING:
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            found = self.cache[(base, _compact(key[1]))] = self._run(data, base, env)
            INVARIANTS.spend(len(key[1]))
        return found  # type: ignore[return-value]

    def _run(self, data: Any, base: str, env: dict[str, Any]) -> list[Any]:
        try:
            node = ResourceNode.create_node(data, base)  # type: ignore[no-untyped-call]
            result: list[Any] = apply_parsed_path(node, self.parsed, env, MODEL, _OPTIONS)  # type: ignore[no-untyped-call]
            return result
        except Exception as exc:  # fhirpathpy raises plain Exceptions for unsupported functions
            FAILURES.setdefault(self.expression, f"{type(exc).__name__}: {exc}")
            return [True]


class Constraint:
    """An invariant of an element, as compiled for evaluation on its context node."""

    __slots__ = ("expression", "human", "key", "mode", "native", "parts", "severity", "source")

    def __init__(
        self, key: str, severity: str, human: str, expression: str, child: str | None = None, source: str | None = None
    ) -> None:
        self.key, self.severity, self.human, self.source = key, severity, human, source
        self.expression = expression
        native = NATIVES.get(key)
        self.native: Callable[[Any, dict[str, Any]], bool | None] | None = None
        self.parts: list[Part] = []
        self.mode = "single"
        if native is not None and native[0] == expression and (key not in PARTIAL or child is None):
            self.native = native[1]
            if key not in PARTIAL:
                return
        elif child is None:
            self.native = range_native(expression)  # partial: the parts below decide what it leaves
        text = f"{child}.all({expression})" if child else expression
        implies = _split_top(text, "implies")
        ors = _split_top(text, "or")
        if len(implies) == 2 and "xor" not in text:
            self.mode, self.parts = "implies", [Part(implies[0]), Part(implies[1])]
        elif len(ors) > 1 and len(implies) == 1 and not _has_top(text, "xor"):
            self.mode, self.parts = "or", [Part(p) for p in ors]
        else:
            self.parts = [Part(text)]

    def holds(self, data: Any, base: str, env: dict[str, Any]) -> bool:
        if self.native is not None:
            try:
                verdict = self.native(data, env)
            except (AttributeError, TypeError, KeyError):
                return True  # malformed content: the structural checks report it
            if verdict is not None:
                return verdict
            # a PARTIAL native leaves unusual content (``_`` parts, lists, other JSON types) to fhirpathpy
        if self.mode == "or":
            return any(part.evaluate(data, base, env) == [True] for part in self.parts)
        if self.mode == "implies":
            if self.parts[0].evaluate(data, base, env) == [False]:
                return True
            return self.parts[1].evaluate(data, base, env) == [True]
        return self.parts[0].evaluate(data, base, env) == [True]


def _has_top(expression: str, word: str) -> bool:
    return len(_split_top(expression, word)) > 1


def _pure(constraint: Constraint) -> bool:
    return constraint.native is None and all(p.cacheable and p.members is not None for p in constraint.parts)


def _pure_by_parts(constraint: Constraint) -> bool:
    """Whether the constraint would be cached by its members without its native (where it is reported)."""
    return bool(constraint.parts) and all(p.cacheable and p.members is not None for p in constraint.parts)


class ConstraintGroup:
    """The invariants of one node. Those that read only members of the node are decided together,
    cached by the JSON of the union of those members (one lookup per node instead of one per part)."""

    __slots__ = ("__weakref__", "cache", "key_memo", "members", "pure", "ranked", "rest")

    def __init__(self, constraints: list[Constraint] | tuple[Constraint, ...]) -> None:
        self.pure = [c for c in constraints if _pure(c)]
        self.rest = [c for c in constraints if not _pure(c)]
        # failures are reported rest first, then pure; a PARTIAL native keeps the place it had as pure
        reported = [c for c in constraints if not _pure_by_parts(c)] + [c for c in constraints if _pure_by_parts(c)]
        self.ranked = {id(c): i for i, c in enumerate(reported)}
        self.members = frozenset(m for c in self.pure for p in c.parts for m in (p.members or ()))
        self.cache: dict[Any, tuple[Constraint, ...]] = {}
        self.key_memo: dict[tuple[str, ...], tuple[str, ...]] = {}
        INVARIANTS.register(self)

    def failures(self, data: Any, base: str, env: dict[str, Any]) -> list[Constraint]:
        failed = [c for c in self.rest if not c.holds(data, base, env)]
        if not self.pure:
            return failed
        if failed:
            return self._ordered(failed + self._pure_failures(data, base, env))
        return self._pure_failures(data, base, env)

    def _ordered(self, failed: list[Constraint]) -> list[Constraint]:
        return sorted(failed, key=lambda c: self.ranked[id(c)]) if len(failed) > 1 else failed

    def _pure_failures(self, data: Any, base: str, env: dict[str, Any]) -> list[Constraint]:
        if not isinstance(data, dict):
            return [c for c in self.pure if not c.holds(data, base, env)]
        selected = selected_keys(data, self.members, self.key_memo)
        try:
            raw = key_bytes(orjson.dumps({k: data[k] for k in selected}), _RAW_KEY_BYTES)
        except TypeError:
            return [c for c in self.pure if not c.holds(data, base, env)]
        found = self.cache.get((base, raw))  # looked up with orjson's bytes as they are, copied when stored
        if found is None:
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            found = self.cache[(base, _compact(raw))] = tuple(c for c in self.pure if not c.holds(data, base, env))
            INVARIANTS.spend(len(raw))
        return list(found)


#: R4 4.0.1 invariants whose expression contradicts their own text (``human``), and the expression the
#: text states (the HL7 validator applies the text). que-12: "If there are more than one enableWhen,
#: enableBehavior must be specified" was published as ``count() > 2`` (corrected in R4B/R5 to > 1).
ERRATA = {
    ("que-12", "enableWhen.count() > 2 implies enableBehavior.exists()"): (
        "enableWhen.count() > 1 implies enableBehavior.exists()"
    ),
}


def constraints_of(element: dict[str, Any], child: str | None = None) -> list[Constraint]:
    """The invariants of a snapshot element (ele-1 is structural), with the R4 errata corrected."""
    return [
        Constraint(
            c["key"],
            c.get("severity", "error"),
            c.get("human", ""),
            ERRATA.get((c["key"], c["expression"]), c["expression"]),
            child,
            c.get("source"),
        )
        for c in element.get("constraint", [])
        if c.get("key") != "ele-1" and c.get("expression")
    ]
