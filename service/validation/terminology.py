"""ValueSet expansion (from compose) and code membership, with every expansion cached, and the checks that
use them: a code of a complete CodeSystem the validator holds, a UCUM unit, a binding.

Only what can be decided offline is decided: a ValueSet that includes a whole external code system
(LOINC, SNOMED CT, UCUM) or filters one the validator does not hold accepts any code of that system.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mappings.canonical import UCUM
from service.validation.definitions import Definitions
from service.validation.outcome import Issues
from service.validation.shapes import as_list
from service.validation.ucum import Ucum

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Expansion:
    """The codes of a ValueSet: exact (system, code) pairs plus systems accepted as a whole."""

    pairs: frozenset[tuple[str, str]]
    codes: frozenset[str]
    open_systems: frozenset[str]

    def has_coding(self, system: Any, code: Any) -> bool:
        if not isinstance(system, str | None) or not isinstance(code, str | None):
            return False
        if system in self.open_systems:
            return True
        return (system or "", code or "") in self.pairs

    def has_code(self, code: Any) -> bool:
        if not isinstance(code, str):
            return False
        return bool(self.open_systems) or code in self.codes


@dataclass
class CodeSystemIndex:
    """Codes of one complete CodeSystem, with their parents (for is-a filters)."""

    codes: set[str] = field(default_factory=set)
    parents: dict[str, set[str]] = field(default_factory=dict)

    def descendants(self, code: str, include_self: bool) -> set[str]:
        found = {code} if include_self and code in self.codes else set()
        frontier = [code]
        while frontier:
            current = frontier.pop()
            for child, parents in self.parents.items():
                if current in parents and child not in found:
                    found.add(child)
                    frontier.append(child)
        return found


class Terminology:
    """Expands ValueSets of a :class:`Definitions` on demand; checks codes, units and bindings with them."""

    def __init__(self, defs: Definitions, ucum: Ucum | None = None) -> None:
        self.defs = defs
        self.ucum = ucum
        self._expansions: dict[str, Expansion | None] = {}
        self._systems: dict[str, CodeSystemIndex | None] = {}

    # --- checks -------------------------------------------------------------------------------
    def check_coding(self, coding: JSON, path: str, issues: Issues) -> None:
        """A code of a CodeSystem the validator holds completely must exist in it."""
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            return
        index = self.code_system(system)
        if index is not None and code not in index.codes:
            issues.error("code-invalid", f"{path}.code", f"Unknown code '{code}' in the CodeSystem '{system}'")

    def check_ucum(self, quantity: JSON, path: str, issues: Issues) -> None:
        """A UCUM-coded quantity must use a valid UCUM expression (as HAPI's UCUM service checks)."""
        code = quantity.get("code")
        if quantity.get("system") != UCUM or not isinstance(code, str) or self.ucum is None:
            return
        if not self.ucum.valid(code):
            issues.error("code-invalid", f"{path}.code", f"Error processing unit '{code}': not a valid UCUM unit")

    def check_binding(
        self, value: Any, code: str, binding: tuple[str, str], path: str, issues: Issues, choice: bool = False
    ) -> None:
        strength, url = binding
        expansion = self.expand(url)
        if expansion is None:
            return
        if code in ("code", "string", "uri"):
            ok = isinstance(value, str) and expansion.has_code(value)
        elif code in ("Coding", "Quantity"):
            if "code" not in value:
                return
            ok = expansion.has_coding(value.get("system"), value.get("code"))
        elif code == "CodeableConcept":
            codings = [c for c in as_list(value.get("coding")) if isinstance(c, dict)]
            if not codings and strength == "extensible":
                return
            ok = any(expansion.has_coding(c.get("system"), c.get("code")) for c in codings)
        else:
            return
        if not ok:  # what is shown is built only for an issue
            if code == "CodeableConcept":
                shown = ", ".join(f"{c.get('system')}#{c.get('code')}" for c in codings) or "no coding"
            elif code in ("Coding", "Quantity"):
                shown = f"{value.get('system')}#{value.get('code')}"
            else:
                shown = repr(value)
            message = f"The value {shown} is not in the value set {url} ({strength} binding)"
            # a Quantity's unit outside a required binding on a many-typed choice is a warning, as in the
            # HL7 validator (R4's vital-signs component.value[x] binds all its types to UCUM vital units)
            if strength == "required" and not (choice and code == "Quantity"):
                issues.error("code-invalid", path, message)
            else:
                issues.warning("code-invalid", path, message)

    def code_system(self, url: str) -> CodeSystemIndex | None:
        """The codes of a complete CodeSystem the validator holds, else None."""
        if url not in self._systems:
            cs = self.defs.code_systems.get(url)
            index = None
            if cs is not None and cs.get("content", "complete") == "complete" and "supplements" not in cs:
                index = CodeSystemIndex()
                for code, parent in _walk_concepts(cs.get("concept", []), None):
                    index.codes.add(code)
                    if parent is not None:
                        index.parents.setdefault(code, set()).add(parent)
                _add_property_parents(cs, index)
            self._systems[url] = index
        return self._systems[url]

    def expand(self, url: str) -> Expansion | None:
        """The expansion of a ValueSet (canonical, ``|version`` ignored), or None if unknown."""
        if url in self._expansions:  # the common case: a canonical without a version, expanded already
            return self._expansions[url]
        url = url.split("|", 1)[0]
        if url not in self._expansions:
            self._expansions[url] = None  # guards against include cycles
            vs = self.defs.value_sets.get(url)
            self._expansions[url] = self._expand(vs) if vs is not None else None
        return self._expansions[url]

    def _expand(self, vs: JSON) -> Expansion | None:
        compose = vs.get("compose")
        if not compose:
            contains = (vs.get("expansion") or {}).get("contains")
            if not contains:
                return None
            listed = {(c.get("system", ""), c["code"]) for c in _flatten(contains) if "code" in c}
            return Expansion(frozenset(listed), frozenset(c for _, c in listed), frozenset())
        pairs: set[tuple[str, str]] = set()
        open_systems: set[str] = set()
        for include in compose.get("include", []):
            result = self._include(include)
            if result is None:
                return None
            pairs |= result[0]
            open_systems |= result[1]
        for exclude in compose.get("exclude", []):
            result = self._include(exclude)
            if result is not None:
                pairs -= result[0]
        return Expansion(frozenset(pairs), frozenset(c for _, c in pairs), frozenset(open_systems))

    def _include(self, include: JSON) -> tuple[set[tuple[str, str]], set[str]] | None:
        pairs: set[tuple[str, str]] = set()
        open_systems: set[str] = set()
        for ref in include.get("valueSet", []):
            nested = self.expand(ref)
            if nested is None:
                return None
            pairs |= nested.pairs
            open_systems |= nested.open_systems
        system = include.get("system")
        if system is None:
            return pairs, open_systems
        codes = self._system_codes(system, include)
        if codes is None:
            open_systems.add(system)
        else:
            pairs |= {(system, code) for code in codes}
        return pairs, open_systems

    def _system_codes(self, system: str, include: JSON) -> set[str] | None:
        if "concept" in include:
            return {c["code"] for c in include["concept"]}
        cs = self.code_system(system)
        if cs is None:
            return None
        codes = set(cs.codes)
        for flt in include.get("filter", []):
            op, value = flt.get("op"), flt.get("value", "")
            if flt.get("property") != "concept" or op not in ("is-a", "descendent-of", "is-not-a", "="):
                return None
            if op == "=":
                codes &= {value}
            elif op == "is-not-a":
                codes -= cs.descendants(value, include_self=True)
            else:
                codes &= cs.descendants(value, include_self=op == "is-a")
        return codes


def _walk_concepts(concepts: list[JSON], parent: str | None) -> Iterator[tuple[str, str | None]]:
    for concept in concepts:
        code = concept.get("code")
        if isinstance(code, str):
            yield code, parent
            yield from _walk_concepts(concept.get("concept", []), code)


def _add_property_parents(cs: JSON, index: CodeSystemIndex) -> None:
    def visit(concepts: list[JSON]) -> None:
        for concept in concepts:
            for prop in concept.get("property", []):
                if prop.get("code") in ("parent", "subsumedBy") and "valueCode" in prop:
                    index.parents.setdefault(concept["code"], set()).add(prop["valueCode"])
            visit(concept.get("concept", []))

    visit(cs.get("concept", []))


def _flatten(contains: list[JSON]) -> Iterator[JSON]:
    for item in contains:
        yield item
        yield from _flatten(item.get("contains", []))
