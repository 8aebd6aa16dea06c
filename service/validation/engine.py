"""The validator: definitions, compiled trees and terminology, shared by every validation."""

from __future__ import annotations

import os
from typing import Any

from service.validation.compiler import CORE, Compiler, TypeNode
from service.validation.definitions import Definitions, core_dir, load_core, load_project
from service.validation.jsonio import Loaded
from service.validation.outcome import Issues, operation_outcome
from service.validation.policy import Policy
from service.validation.primitives import build_primitives
from service.validation.protocols import Memo
from service.validation.questionnaire_cache import QuestionnaireCache
from service.validation.r4b_models import check_with_models
from service.validation.terminology import Terminology
from service.validation.ucum import Ucum
from service.validation.vitals import vital_signs_profile
from service.validation.walker import Walker

JSON = dict[str, Any]


class Engine:
    """Compiles definitions lazily and keeps them for the life of the process."""

    def __init__(
        self,
        core: str | os.PathLike[str] | None = None,
        profiles: str | os.PathLike[str] | None = None,
        models: bool = False,
        policy: Policy | None = None,
    ) -> None:
        #: Also run the fhir.resources R4B models (a second line of defence; slower).
        self.models = models
        #: Choices R4 leaves to configuration (unknown extensions, example URLs, HTML in strings).
        self.policy = policy or Policy()
        self.defs: Definitions = load_core(core)
        essence = core_dir(core) / "ucum-essence.xml"
        self.ucum = Ucum(essence) if essence.is_file() and essence.stat().st_size else None
        load_project(self.defs, profiles)
        self.terminology = Terminology(self.defs, self.ucum)
        self.primitives = build_primitives(self.defs)
        self.compiler = Compiler(self.defs, set(self.primitives))
        #: Issues of already validated complex values, by (element, type, JSON): see Walker.item.
        self.memo: Memo = {}
        self.memo_ids: dict[tuple[Any, ...], list[int]] = {}
        #: Which kind of conformance resource a canonical URL names (see typerules.check_canonical).
        self.canonical_kinds: dict[str, str | None] = {}
        self.questionnaires = QuestionnaireCache()
        self.resource_types = frozenset(
            sd["type"]
            for sd in self.defs.summaries.values()
            if sd.get("kind") == "resource" and sd.get("derivation") == "specialization" and not sd.get("abstract")
        )

    def add(self, resource: JSON) -> None:
        """Registers one more conformance resource (profile, ValueSet, CodeSystem, Questionnaire)."""
        self.defs.add(resource, project=True)
        self.compiler = Compiler(self.defs, set(self.primitives))
        self.terminology = Terminology(self.defs, self.ucum)
        self.memo.clear()
        self.memo_ids.clear()
        self.canonical_kinds.clear()

    def validate(self, resource: Any, profile: str | None = None) -> JSON:
        """Validates a resource (or Bundle) against R4 and its profiles: an OperationOutcome dict."""
        return self.validate_loaded(Loaded(resource), profile)

    def validate_loaded(self, loaded: Loaded, profile: str | None = None) -> JSON:
        """Validates a document read by :func:`~service.validation.jsonio.load_json`: duplicate
        property names (R4: names SHALL be unique) are errors too."""
        issues = Issues()
        for path, name in loaded.duplicates:
            message = f"Duplicate JSON property name '{name}' (names SHALL be unique)"
            issues.error("structure", f"{path}.{name}", message)
        resource = loaded.value
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        try:
            Walker(self, issues).resource(resource, rtype if isinstance(rtype, str) else "", profile)
        except RecursionError:
            issues.add(
                "fatal", "too-costly", rtype if isinstance(rtype, str) else "", "The content is nested too deeply"
            )
        if self.models and isinstance(resource, dict) and not issues.has_errors:
            check_with_models(resource, issues)
        return operation_outcome(issues)

    def is_resource_type(self, name: str) -> bool:
        return name in self.resource_types

    def nodes_for(self, rtype: str, data: JSON, forced: str | None, path: str, issues: Issues) -> list[TypeNode]:
        """The trees to walk a resource with: each known profile it claims (or the forced one), else R4."""
        if rtype not in self.resource_types:
            issues.error("structure", path or rtype, f"Unknown resource type {rtype!r}")
            return []
        meta = data.get("meta")
        claimed = meta.get("profile") if isinstance(meta, dict) else None
        urls = [forced] if forced else [u for u in claimed if isinstance(u, str)] if isinstance(claimed, list) else []
        nodes = []
        for url in urls:
            sd = self.defs.structures.get(url.split("|", 1)[0])
            node = self.compiler.structure(url) if sd is not None else None
            if node is None:
                issues.warning(
                    "not-found",
                    f"{path}.meta.profile",
                    f"Profile reference '{url}' has not been checked because it is unknown",
                )
            elif sd is not None and sd["type"] != rtype:
                issues.error("invalid", f"{path}.meta.profile", f"Profile {url} is for {sd['type']}, not {rtype}")
            else:
                nodes.append(node)
        if not nodes:
            base = self.compiler.structure(CORE + rtype)
            if base is not None:
                nodes.append(base)
        vital = vital_signs_profile(data) if rtype == "Observation" and not forced else None
        node = self.compiler.structure(vital) if vital is not None else None
        if node is not None and node not in nodes:
            nodes.append(node)  # R4: an Observation with a vital-sign code SHALL meet that profile
        return nodes
