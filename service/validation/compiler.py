"""Compiles StructureDefinition snapshots into trees of :class:`TypeNode` for the instance walker.

A :class:`TypeNode` describes one JSON object: its allowed keys (choice types expanded to their JSON
names), the elements with cardinality to check, and the invariants evaluated on it. Elements whose
children the snapshot spells out (backbone elements, or datatypes a profile constrains) get their
own node; others fall back to the datatype's node. Nodes are compiled once per StructureDefinition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.validation.definitions import Definitions
from service.validation.invariants import Constraint, ConstraintGroup
from service.validation.invariants import constraints_of as _constraints
from service.validation.primitives import type_code

CORE = "http://hl7.org/fhir/StructureDefinition/"
SYSTEM = "http://hl7.org/fhirpath/System."
BACKBONE = frozenset({"BackboneElement", "Element"})
JSON = dict[str, Any]


@dataclass(eq=False, slots=True)
class Discriminator:
    path: tuple[str, ...]
    expected: tuple[Any, ...] | None  # (value,) to match by pattern, None for an exists check
    exists: bool = True


@dataclass(eq=False, slots=True)
class Slice:
    name: str
    elem: Elem
    discriminators: tuple[Discriminator, ...] | None  # None: can't be matched offline


@dataclass(eq=False, slots=True)
class Elem:
    name: str
    id: str
    min: int
    max: int  # -1 = unbounded
    array: bool
    types: dict[str, str]
    primitive: bool = False
    targets: frozenset[str] | None = None
    canonical_targets: frozenset[str] | None = None
    children: TypeNode | None = None
    type_children: dict[str, TypeNode] = field(default_factory=dict)
    fixed: tuple[Any, ...] | None = None
    pattern: tuple[Any, ...] | None = None
    binding: tuple[str, str] | None = None
    constraints: tuple[Constraint, ...] = ()
    slices: tuple[Slice, ...] = ()
    closed: bool = False
    max_length: int | None = None
    ext_url: str | None = None
    #: Typed with a FHIRPath System type (Resource.id, Element.id, Extension.url): not an Element,
    #: so it has no id or extensions (no ``_`` part in JSON).
    system_type: bool = False
    #: The element's path in the definitions, without slice names, through contentReference
    #: (``Questionnaire.item.item`` is ``Questionnaire.item``): where extension contexts point.
    definition: str = ""
    #: A primitive with nothing to check beyond its type (no fixed value, pattern, binding, maxLength or
    #: canonical targets): the walker checks its values inline.
    plain: bool = False
    #: How the memo serves this element's values: [lookups, hits] of the current probe, values left to walk
    #: without it (``memo.judge``), its name in memo keys (``memo.memo_id``; 0 until first needed).
    memo_use: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    _group: ConstraintGroup | None = None

    @property
    def group(self) -> ConstraintGroup:
        """The element's own invariants, grouped for cached evaluation (built on first use)."""
        if self._group is None:
            self._group = ConstraintGroup(self.constraints)
        return self._group


@dataclass(eq=False, slots=True)
class TypeNode:
    fp_base: str
    keys: dict[str, tuple[Elem, str]] = field(default_factory=dict)
    checked: list[Elem] = field(default_factory=list)
    choices: dict[str, Elem] = field(default_factory=dict)
    constraints: list[Constraint] = field(default_factory=list)
    resource_type: str | None = None
    _group: ConstraintGroup | None = None

    @property
    def group(self) -> ConstraintGroup:
        """The node's invariants, grouped for cached evaluation (built on first use)."""
        if self._group is None:
            self._group = ConstraintGroup(self.constraints)
        return self._group


def definition_path(element_id: str) -> str:
    """An element id without slice names (``Observation.component:pain.code`` → ``Observation.component.code``)."""
    return ".".join(part.split(":", 1)[0] for part in element_id.split("."))


def _max(value: str | None) -> int:
    return -1 if value is None or value == "*" else int(value)


def _choice_key(name: str, code: str) -> str:
    return name + code[0].upper() + code[1:]


class Compiler:
    """Compiles and caches the node trees of every StructureDefinition in a :class:`Definitions`."""

    def __init__(self, defs: Definitions, primitive_types: set[str]) -> None:
        self.defs = defs
        self.primitive_types = primitive_types
        self._roots: dict[str, TypeNode | None] = {}
        self._type_constraints: dict[str, list[Constraint]] = {}
        self._datatypes: dict[str, TypeNode | None] = {}

    def structure(self, url: str) -> TypeNode | None:
        """The root node of a StructureDefinition (resource, datatype, extension or profile)."""
        url = url.split("|", 1)[0]
        if url not in self._roots:
            sd = self.defs.structures.get(url)
            self._roots[url] = None if sd is None or not sd["elements"] else _SdCompiler(self, sd).root()
        return self._roots[url]

    def datatype(self, code: str) -> TypeNode | None:
        found = self._datatypes.get(code, self)
        if found is self:
            found = self._datatypes[code] = self.structure(CORE + code)
        return found  # type: ignore[return-value]

    def type_constraints(self, code: str) -> list[Constraint]:
        """The invariants a datatype puts on every value of that type (root and primitive children)."""
        if code not in self._type_constraints:
            sd = self.defs.structures.get(CORE + code) if code not in BACKBONE else None
            found: list[Constraint] = []
            if sd is not None and sd["elements"]:
                found = _constraints(sd["elements"][0])
                for element in sd["elements"][1:]:
                    path = element["path"]
                    codes = [type_code(t) for t in element.get("type", [])]
                    if path.count(".") == 1 and codes and all(c in self.primitive_types for c in codes):
                        found += _constraints(element, child=path.split(".", 1)[1].replace("[x]", ""))
            self._type_constraints[code] = found
        return self._type_constraints[code]

    def target_type(self, url: str) -> str:
        sd = self.defs.structures.get(url.split("|", 1)[0])
        return sd["type"] if sd is not None else url.rsplit("/", 1)[-1]


class _SdCompiler:
    """Compiles one snapshot: elements by id, children by parent id."""

    def __init__(self, owner: Compiler, sd: JSON) -> None:
        self.owner, self.sd = owner, sd
        self.by_id: dict[str, JSON] = {}
        self.children: dict[str, list[str]] = {}
        for element in sd["elements"]:
            eid = element.get("id") or element["path"]
            self.by_id[eid] = element
            if "." in eid:
                self.children.setdefault(eid.rsplit(".", 1)[0], []).append(eid)
        self.memo: dict[str, TypeNode] = {}

    def root(self) -> TypeNode:
        first = self.sd["elements"][0]
        root_id = first.get("id") or first["path"]
        node = self.node(root_id, self.sd["type"], _constraints(first))
        if self.sd.get("kind") == "resource":
            node.resource_type = self.sd["type"]
        return node

    def node(self, node_id: str, fp_base: str, constraints: list[Constraint]) -> TypeNode:
        if node_id in self.memo:
            return self.memo[node_id]
        node = self.memo[node_id] = TypeNode(fp_base, constraints=constraints)
        child_ids = self.children.get(node_id, [])
        for child_id in child_ids:
            last = child_id.rsplit(".", 1)[1]
            if ":" in last:
                continue
            element = self.by_id[child_id]
            elem = self.elem(element, child_id)
            prefix = f"{last}:"
            slice_ids = [
                s for s in child_ids if s.rsplit(".", 1)[1].startswith(prefix) and "/" not in s.rsplit(".", 1)[1]
            ]
            if slice_ids:
                self.slices(elem, element, slice_ids)
            for key, code in elem.types.items():
                node.keys[key] = (elem, code)
            if last.endswith("[x]"):
                node.choices[elem.name] = elem
            if elem.min > 0 or (elem.max >= 0 and (elem.array or elem.max == 0)) or elem.slices:
                node.checked.append(elem)
            if elem.primitive:
                node.constraints.extend(_constraints(element, child=elem.name))
        return node

    def elem(self, element: JSON, eid: str) -> Elem:
        last = eid.rsplit(".", 1)[1].split(":", 1)[0]
        name = last[:-3] if last.endswith("[x]") else last
        codes = [type_code(t) for t in element.get("type", [])] or ["BackboneElement"]
        system_type = any(t.get("code", "").startswith(SYSTEM) for t in element.get("type", []))
        if (element.get("base") or {}).get("path") == "Resource.id":
            codes = ["id"]  # R4 snapshots type Resource.id as System.String; the spec says id
        choice = last.endswith("[x]")
        types = {(_choice_key(name, c) if choice else name): c for c in codes}
        base_max = (element.get("base") or {}).get("max", element.get("max"))
        elem = Elem(name, eid, int(element.get("min", 0)), _max(element.get("max")), base_max != "1", types)
        elem.primitive = all(c in self.owner.primitive_types for c in codes)
        elem.system_type = system_type
        elem.definition = definition_path(element["contentReference"][1:] if "contentReference" in element else eid)
        for key, value in element.items():
            if key.startswith("fixed"):
                elem.fixed = (value,)
            elif key.startswith("pattern"):
                elem.pattern = (value,)
        binding = element.get("binding")
        if binding and binding.get("valueSet") and binding.get("strength") in ("required", "extensible"):
            elem.binding = (binding["strength"], binding["valueSet"])
        if "maxLength" in element:
            elem.max_length = int(element["maxLength"])
        self._targets(elem, element)
        own = _constraints(element) if not elem.primitive else []
        if "contentReference" in element:
            ref = element["contentReference"].split("#", 1)[1]
            target = self.by_id[ref]
            elem.children = self.node(ref, ref, _constraints(target))
        elif self.children.get(eid):
            code = codes[0]
            if code in BACKBONE:
                elem.children = self.node(eid, element["path"], own)
            else:
                inherited = self.owner.type_constraints(code)
                keys = {c.key for c in inherited}
                elem.children = self.node(eid, code, inherited + [c for c in own if c.key not in keys])
            own = []
        if own and len(codes) == 1 and codes[0] not in BACKBONE:
            keys = {c.key for c in self.owner.type_constraints(codes[0])}
            own = [c for c in own if c.key not in keys]
        elem.constraints = tuple(own)
        extra = (elem.fixed, elem.pattern, elem.binding, elem.max_length, elem.canonical_targets)
        elem.plain = elem.primitive and len(elem.types) == 1 and all(x is None for x in extra)
        return elem

    def _targets(self, elem: Elem, element: JSON) -> None:
        names: set[str] = set()
        for entry in element.get("type", []):
            if entry.get("code") == "Reference":
                names.update(self.owner.target_type(url) for url in entry.get("targetProfile", []))
            elif entry.get("code") == "canonical" and entry.get("targetProfile"):
                elem.canonical_targets = frozenset(self.owner.target_type(u) for u in entry["targetProfile"])
            if entry.get("code") == "Extension" and entry.get("profile"):
                elem.ext_url = entry["profile"][0]
        if names and "Resource" not in names:
            elem.targets = frozenset(names)

    def slices(self, elem: Elem, element: JSON, slice_ids: list[str]) -> None:
        slicing = element.get("slicing") or {}
        discs = slicing.get("discriminator", [])
        elem.closed = slicing.get("rules") == "closed"
        compiled = []
        for sid in slice_ids:
            s_elem = self.elem(self.by_id[sid], sid)
            if len(elem.types) > 1 and any(d.get("type") == "type" for d in discs):
                for code in s_elem.types.values():
                    if s_elem.children is not None:
                        elem.type_children[code] = s_elem.children
                continue
            compiled.append(Slice(sid.rsplit(":", 1)[1], s_elem, self._discriminators(sid, s_elem, discs)))
        elem.slices = tuple(compiled)

    def _discriminators(self, sid: str, s_elem: Elem, discs: list[JSON]) -> tuple[Discriminator, ...] | None:
        out = []
        for disc in discs:
            kind, path = disc.get("type"), disc.get("path", "$this")
            parts = () if path == "$this" else tuple(path.split("."))
            target = self.by_id.get(sid if not parts else f"{sid}.{path}")
            if kind in ("value", "pattern"):
                expected = None
                if target is not None:
                    expected = next(((v,) for k, v in target.items() if k.startswith(("fixed", "pattern"))), None)
                if expected is None and parts == ("url",) and s_elem.ext_url:
                    expected = (s_elem.ext_url,)
                if expected is None:
                    return None
                out.append(Discriminator(parts, expected))
            elif kind == "exists" and target is not None:
                out.append(Discriminator(parts, None, exists=int(target.get("min", 0)) > 0))
            else:
                return None
        return tuple(out)
