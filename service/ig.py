"""The ETMI implementation guide package in ``profiles/package``, loaded once as data.

Every part of the service that needs a conformance resource (the mappings' Questionnaires, the
validator's profiles and value sets, the FHIR façade's StructureDefinition endpoints) reads it here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from mappings.domain import QuestionnaireKind
from mappings.questionnaire import QUESTIONNAIRE_URLS

DEFAULT_PACKAGE_DIR = Path(__file__).resolve().parents[1] / "profiles" / "package"


@dataclass(frozen=True)
class IgPackage:
    """The package's resources (examples excluded), by canonical URL and by type."""

    manifest: dict[str, Any]
    by_url: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def resource(self, url: str) -> dict[str, Any]:
        canonical = url.split("|")[0]
        if canonical not in self.by_url:
            raise KeyError(f"{canonical} is not in the ETMI package {self.manifest.get('name')}")
        return self.by_url[canonical]

    def questionnaires(self) -> dict[QuestionnaireKind, dict[str, Any]]:
        return {kind: self.resource(url) for kind, url in QUESTIONNAIRE_URLS.items()}


@cache
def load_package(directory: Path = DEFAULT_PACKAGE_DIR) -> IgPackage:
    manifest_path = directory / "package.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no FHIR package at {directory} (package.json missing)")
    package = IgPackage(manifest=json.loads(manifest_path.read_text()))
    for path in sorted(directory.glob("*.json")):
        resource = json.loads(path.read_text())
        if path.name == "package.json" or "resourceType" not in resource:
            continue
        package.by_type.setdefault(resource["resourceType"], []).append(resource)
        if "url" in resource:
            package.by_url[resource["url"]] = resource
    return package
