"""The ETMI implementation guide package (``profiles/package``): conformance resources in memory.

Every part of the service that needs a conformance resource (the mappings' Questionnaires, the FHIR
façade's conformance endpoints, the CapabilityStatement) reads it here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from mappings import canonical as c
from mappings.domain import QuestionnaireKind
from mappings.questionnaire import QUESTIONNAIRE_URLS

log = logging.getLogger("etmi.conformance")

CONFORMANCE_TYPES = ("StructureDefinition", "ValueSet", "CodeSystem", "Questionnaire", "ImplementationGuide")
DEFAULT_PACKAGE_DIR = Path(__file__).resolve().parents[1] / "profiles" / "package"


@dataclass
class Package:
    """Every conformance resource of the guide, by type and id and by canonical URL."""

    directory: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    by_type: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> Package:
        package = cls(directory)
        if not directory.is_dir():
            log.warning("profiles package missing", extra={"event": "profiles_missing"})
            return package
        manifest = directory / "package.json"
        if manifest.is_file():
            package.manifest = orjson.loads(manifest.read_bytes())
        for path in sorted(directory.glob("*.json")):
            if path.name in ("package.json", ".index.json"):
                continue
            resource = orjson.loads(path.read_bytes())
            rtype = resource.get("resourceType")
            if rtype in CONFORMANCE_TYPES and resource.get("id"):
                package.by_type.setdefault(rtype, {})[resource["id"]] = resource
        log.info("profiles loaded", extra={"event": "profiles_loaded", "count": package.count()})
        return package

    def count(self) -> int:
        return sum(len(v) for v in self.by_type.values())

    @property
    def loaded(self) -> bool:
        return bool(self.manifest) and self.count() > 0

    def resources(self, rtype: str) -> list[dict[str, Any]]:
        return list(self.by_type.get(rtype, {}).values())

    def read(self, rtype: str, rid: str) -> dict[str, Any] | None:
        return self.by_type.get(rtype, {}).get(rid)

    def by_url(self, rtype: str, url: str, version: str | None = None) -> dict[str, Any] | None:
        if version is None and "|" in url:
            url, version = url.split("|", 1)
        for resource in self.resources(rtype):
            if resource.get("url") == url and (version is None or resource.get("version") == version):
                return resource
        return None

    def questionnaires(self) -> dict[QuestionnaireKind, dict[str, Any]]:
        """The pinned ETMI Questionnaires (``url|QUESTIONNAIRE_VERSION``) that are present."""
        found: dict[QuestionnaireKind, dict[str, Any]] = {}
        for kind, url in QUESTIONNAIRE_URLS.items():
            resource = self.by_url("Questionnaire", url, c.QUESTIONNAIRE_VERSION)
            if resource is not None:
                found[kind] = resource
        return found

    def profiles(self) -> list[str]:
        """Canonical URLs of the guide's resource profiles (not extensions or logical models)."""
        return sorted(sd["url"] for sd in self.resources("StructureDefinition")
                      if sd.get("kind") == "resource" and sd.get("derivation") == "constraint" and sd.get("url"))


@cache
def load_package(directory: Path = DEFAULT_PACKAGE_DIR) -> Package:
    """The package in ``directory``, loaded once per process."""
    return Package.load(directory)
