"""Walks one JSON resource against compiled :class:`TypeNode` trees and collects issues."""

from __future__ import annotations

from typing import Any

import orjson

from service.validation import memo as memos
from service.validation.bundle import check_full_urls, check_links, check_searchset
from service.validation.compiler import Elem, TypeNode
from service.validation.extensions import check_extension
from service.validation.memo import CLOCK, MEMO_LIMIT, MEMO_MAX_BYTES, MEMO_RAW_BYTES, keep_recent, memo_bytes
from service.validation.outcome import Issues
from service.validation.primitives import ABSOLUTE
from service.validation.protocols import Validator
from service.validation.questionnaire import check_answers, check_questionnaire
from service.validation.shapes import as_list, dump_json
from service.validation.slicing import check_cardinality, pattern_matches, walk_sliced
from service.validation.typerules import check_after, check_canonical

RESOURCE_CODES = frozenset({"Resource", "DomainResource"})
__all__ = ["MEMO_LIMIT", "MEMO_RAW_BYTES", "Walker"]


class Walker:
    """Validation of one top-level resource (and everything it contains)."""

    def __init__(self, engine: Validator, issues: Issues) -> None:
        self.engine = engine
        self.compiler = engine.compiler
        self.prims = engine.primitives
        self.issues = issues
        self.env: dict[str, Any] = {}
        self.full_urls: dict[str, str] = {}
        #: The element whose value is being walked: (its path in the definitions, its type).
        self.host: tuple[str, str] = ("", "")
        policy = engine.policy
        self.check_text = policy.check_text if policy.checks_text else None
        self.stamp = next(CLOCK)

    def resource(self, data: Any, path: str, forced: str | None = None, contained: bool = False) -> None:
        if not isinstance(data, dict):
            self.issues.error("structure", path, "A resource must be a JSON object")
            return
        rtype = data.get("resourceType")
        if not isinstance(rtype, str):
            self.issues.error("structure", path, "The resource has no resourceType")
            return
        nodes = self.engine.nodes_for(rtype, data, forced, path, self.issues)
        if not nodes:
            return
        saved, host = self.env, self.host
        # %rootResource is the container for a contained resource; a Bundle entry or a Parameters
        # resource is a root of its own (R4 references "#id" resolve in their own resource's contained)
        root = saved.get("rootResource", data) if contained else data
        self.env = {"resource": data, "rootResource": root, "context": data}
        self.host = (rtype, rtype)
        if rtype == "Bundle":
            self._index_bundle(data)
        for node in nodes:
            self.object(data, node, path or rtype)
        if rtype == "Bundle":
            check_searchset(data, path or rtype, self.issues, self.engine.is_resource_type)
            check_full_urls(data, path or rtype, self.issues, self.engine.is_resource_type)
            check_links(data, path or rtype, self.issues)
        self._resource_rules(data, rtype, nodes[0], path or rtype)
        self.env, self.host = saved, host

    def _resource_rules(self, data: dict[str, Any], rtype: str, node: TypeNode, path: str) -> None:
        """Rules of the HL7 validator beyond the snapshots (as HAPI applies them)."""
        url = data.get("url")
        if isinstance(url, str) and node.keys.get("url", (None, ""))[1] == "uri" and not ABSOLUTE.match(url):
            self.issues.error("value", f"{path}.url", f"Canonical URLs must be absolute URLs ({url!r})")
        if rtype == "QuestionnaireResponse":
            check_answers(self.engine, data, path, self.issues)
        elif rtype == "Questionnaire":
            check_questionnaire(data, path, self.issues)

    def _index_bundle(self, bundle: dict[str, Any]) -> None:
        for entry in as_list(bundle.get("entry")):
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                url = entry.get("fullUrl")
                if isinstance(url, str):
                    self.full_urls[url] = entry["resource"].get("resourceType", "")

    # --- objects ----------------------------------------------------------------------------
    def object(self, data: dict[str, Any], node: TypeNode, path: str) -> None:
        keys = node.keys
        counts: dict[Elem, int] = {}
        chosen: dict[Elem, str] = {}
        issues = self.issues  # a memo miss below swaps self.issues only for the time of its value
        item_of = self.item
        prims = self.prims
        plain_ok = self.check_text is None
        for key, value in data.items():
            entry = keys.get(key)
            if entry is None:
                self._other_key(data, key, value, node, path, counts)
                continue
            elem, code = entry
            if len(elem.types) > 1:  # a choice: only one of its JSON names
                if chosen.get(elem, key) != key:
                    issues.error(
                        "structure",
                        f"{path}.{key}",
                        f"Only one of {chosen[elem]}, {key} is allowed ({elem.name}[x] has one type)",
                    )
                chosen[elem] = key
            if not elem.array and elem.plain and plain_ok and value is not None and not isinstance(value, list):
                counts[elem] = 1  # what _item does for such an element, the path built only for an issue
                if (message := prims[code].check(value)) is not None:
                    issues.error("value", f"{path}.{key}", f"{code} {message}")
                continue
            sub = f"{path}.{key}"
            if elem.array:
                if not isinstance(value, list):
                    issues.error("structure", sub, f"{key} must be a JSON array (max cardinality > 1)")
                    continue
                if not value:
                    issues.error("structure", sub, "Arrays must not be empty")
                    continue
                counts[elem] = len(value)
                if elem.slices:
                    walk_sliced(self, value, elem, code, sub)
                    continue
                extras = data.get("_" + key) if elem.primitive else None
                check = prims[code].check if elem.plain and plain_ok else None
                for i, item in enumerate(value):
                    if item is None:
                        if isinstance(extras, list) and i < len(extras) and extras[i] is not None:
                            continue
                    elif check is not None:
                        if (message := check(item)) is not None:
                            issues.error("value", f"{sub}[{i}]", f"{code} {message}")
                        continue
                    item_of(item, elem, code, f"{sub}[{i}]")
            elif isinstance(value, list):
                issues.error("structure", sub, f"{key} must not be an array (max cardinality 1)")
            else:
                counts[elem] = 1
                item_of(value, elem, code, sub)
        for elem in node.checked:
            count = counts.get(elem, 0)
            if count < elem.min or count == 0 or 0 <= elem.max < count:
                check_cardinality(issues, elem, count, path)
        if node.constraints:
            for constraint in node.group.failures(data, node.fp_base, self.env):
                self.issues.invariant(constraint, path)

    def _other_key(
        self, data: dict[str, Any], key: str, value: Any, node: TypeNode, path: str, counts: dict[Elem, int]
    ) -> None:
        if key == "resourceType" and node.resource_type is not None:
            if value != node.resource_type:
                self.issues.error("structure", path, f"resourceType {value!r} does not match {node.resource_type}")
            return
        if key.startswith("_") and node.keys.get(key[1:], (None, ""))[1] in self.prims:
            elem, code = node.keys[key[1:]]
            if elem.system_type:
                self.issues.error(
                    "structure", f"{path}.{key}", f"{elem.id} can't have an id or extensions (it is not an Element)"
                )
                return
            counts.setdefault(elem, 1)
            if key[1:] not in data and elem.binding is not None and elem.binding[0] == "required":
                self.issues.error(
                    "code-invalid",
                    f"{path}.{key[1:]}",
                    f"No code provided, and a code is required from {elem.binding[1]}",
                )
            element = self.compiler.datatype("Element")
            items = value if isinstance(value, list) else [value]
            values = data.get(key[1:])
            for i, item in enumerate(items):
                sub = f"{path}.{key}[{i}]" if isinstance(value, list) else f"{path}.{key}"
                if item is None and isinstance(value, list):
                    continue
                if not isinstance(item, dict) or element is None:
                    self.issues.error("structure", sub, "A primitive's extension holder must be an object")
                    continue
                # the value and its _ part are one element: with a value, an id alone is enough
                held = values[i] if isinstance(values, list) and i < len(values) else values
                self._complex(item, element, sub, (elem.definition, code), held is not None)
            return
        for name, elem in node.choices.items():
            if key.startswith(name) and key[len(name) : len(name) + 1].isupper():
                allowed = ", ".join(elem.types.values())
                self.issues.error(
                    "structure",
                    f"{path}.{key}",
                    f"Type {key[len(name) :]} is not allowed for {name}[x] (allowed: {allowed})",
                )
                return
        self.issues.error("structure", f"{path}.{key}", f"Unknown element '{key}'")

    def _complex(
        self, value: dict[str, Any], node: TypeNode, path: str, host: tuple[str, str], has_value: bool = False
    ) -> None:
        if not value or (len(value) == 1 and "id" in value and not has_value):
            self.issues.error(
                "invariant", path, "Constraint failed: ele-1: All FHIR elements must have a @value or children"
            )
            return
        saved, self.host = self.host, host
        self.object(value, node, path)
        self.host = saved

    # --- items --------------------------------------------------------------------------------
    def item(self, value: Any, elem: Elem, code: str, path: str) -> None:
        """Validates one value; complex values are memoised by their JSON unless they hold a reference that
        the walk's state resolves (``#id``, or any reference inside a Bundle)."""
        use = elem.memo_use
        if use[2] > 0 or type(value) is not dict or code in RESOURCE_CODES:
            use[2] -= use[2] > 0  # this element's values rarely repeat (memo.judge): a while without the memo
            self._item(value, elem, code, path)
            return
        try:
            dumped = orjson.dumps(value)
        except TypeError:
            self._item(value, elem, code, path)
            return
        size = len(dumped)
        local = self.full_urls or b"#" in dumped  # one byte first (memchr): '"reference"' costs as much as dumps
        if size > MEMO_MAX_BYTES or (local and b'"reference"' in dumped and (self.full_urls or b'"#' in dumped)):
            self._item(value, elem, code, path)
            return
        raw = dumped if size <= MEMO_RAW_BYTES else memo_bytes(dumped)  # memo_bytes, a call saved on most values
        key = (use[3] or memos.memo_id(elem, self.engine.memo_ids), code, raw)
        memo = self.engine.memo
        entry = memo.get(key)
        if raw is not dumped:
            memos.judge(use, entry is not None)
        if entry is None:
            outer, self.issues = self.issues, Issues()
            try:
                self._item(value, elem, code, "")
                found = tuple(self.issues.items)
            finally:
                self.issues = outer
            if len(memo) >= MEMO_LIMIT:
                keep_recent(memo)
            if key[2] is dumped:  # an exact copy: orjson's bytes may hold a larger buffer
                key = (key[0], code, bytes(memoryview(dumped)))
            memo[key] = [found, self.stamp]
        else:
            found = entry[0]
            entry[1] = self.stamp
        if found:
            add = self.issues.add
            for severity, kind, relative, message in found:
                add(severity, kind, path + relative, message)

    def _item(self, value: Any, elem: Elem, code: str, path: str) -> None:
        if value is None:
            self.issues.error("structure", path, "null is not allowed (omit the element instead)")
            return
        spec = self.prims.get(code)
        if spec is not None:
            message = spec.check(value)
            if message is not None:
                self.issues.error("value", path, f"{code} {message}")
                return
            if elem.max_length is not None and isinstance(value, str) and len(value) > elem.max_length:
                self.issues.error("value", path, f"Value is longer than maxLength {elem.max_length}")
            if self.check_text is not None and isinstance(value, str):
                self.check_text(value, code, path, self.issues)
            if code == "canonical" and elem.canonical_targets is not None:
                check_canonical(self, value, elem, path)
        elif not isinstance(value, dict):
            self.issues.error("structure", path, f"{code} must be a JSON object, not {dump_json(value)}")
            return
        elif code in RESOURCE_CODES:
            self.resource(value, path, contained=elem.name == "contained")
            return
        else:
            self._complex_item(value, elem, code, path)
        if elem.fixed is not None and value != elem.fixed[0]:
            self.issues.error("value", path, f"Value must be exactly {dump_json(elem.fixed[0])}")
        if elem.pattern is not None and not pattern_matches(elem.pattern[0], value):
            self.issues.error("value", path, f"Value must match the pattern {dump_json(elem.pattern[0])}")
        if elem.binding is not None:
            self.engine.terminology.check_binding(value, code, elem.binding, path, self.issues, len(elem.types) > 1)

    def _complex_item(self, value: dict[str, Any], elem: Elem, code: str, path: str) -> None:
        """A datatype value: its node, the element's invariants and the type-specific rules."""
        node = elem.type_children.get(code) or elem.children
        if node is None and code == "Extension":
            url = value.get("url")
            node = self.compiler.structure(url) if isinstance(url, str) else None
        node = node or self.compiler.datatype(code)
        if code == "Extension":
            check_extension(self, value, elem, path)
        if node is not None:
            self._complex(value, node, path, (elem.definition, code))
        if elem.constraints:
            for constraint in elem.group.failures(value, node.fp_base if node else code, self.env):
                self.issues.invariant(constraint, path)
        check_after(self, value, elem, code, path)
