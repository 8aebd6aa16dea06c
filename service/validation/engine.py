"""The validator: definitions, compiled trees and terminology, shared by every validation."""

from __future__ import annotations

import os
from typing import Any

from mappings.canonical import UCUM
from service.validation.definitions import Definitions, core_dir, load_core, load_project
from service.validation.jsonio import Loaded
from service.validation.model import CORE, Compiler, TypeNode
from service.validation.models import check_with_models
from service.validation.outcome import Issues, operation_outcome
from service.validation.policy import Policy
from service.validation.primitives import build_primitives
from service.validation.questionnaire import QItem, check_answers, compile_items, watched_links
from service.validation.shapes import as_list
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
        self.terminology = Terminology(self.defs)
        self.primitives = build_primitives(self.defs)
        self.compiler = Compiler(self.defs, set(self.primitives))
        #: Issues of already validated complex values, by (element, type, JSON): see Walker.item.
        self.memo: dict[tuple[int, str, bytes], tuple[tuple[str, str, str, str], ...]] = {}
        #: Which kind of conformance resource a canonical URL names (see typerules.check_canonical).
        self.canonical_kinds: dict[str, str | None] = {}
        self._questionnaires: dict[tuple[Any, Any, Any], tuple[JSON, dict[str, tuple[int, QItem]], frozenset[str]]] = {}
        self.resource_types = frozenset(
            sd["type"]
            for sd in self.defs.summaries.values()
            if sd.get("kind") == "resource" and sd.get("derivation") == "specialization" and not sd.get("abstract")
        )

    def add(self, resource: JSON) -> None:
        """Registers one more conformance resource (profile, ValueSet, CodeSystem, Questionnaire)."""
        self.defs.add(resource, project=True)
        self.compiler = Compiler(self.defs, set(self.primitives))
        self.terminology = Terminology(self.defs)
        self.memo.clear()
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

    # --- terminology ------------------------------------------------------------------------
    def check_coding(self, coding: JSON, path: str, issues: Issues) -> None:
        """A code of a CodeSystem the validator holds completely must exist in it."""
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            return
        index = self.terminology.code_system(system)
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
        expansion = self.terminology.expand(url)
        if expansion is None:
            return
        if code in ("code", "string", "uri"):
            ok = isinstance(value, str) and expansion.has_code(value)
            shown = repr(value)
        elif code == "Coding":
            if "code" not in value:
                return
            ok = expansion.has_coding(value.get("system"), value.get("code"))
            shown = f"{value.get('system')}#{value.get('code')}"
        elif code == "CodeableConcept":
            codings = [c for c in as_list(value.get("coding")) if isinstance(c, dict)]
            if not codings and strength == "extensible":
                return
            ok = any(expansion.has_coding(c.get("system"), c.get("code")) for c in codings)
            shown = ", ".join(f"{c.get('system')}#{c.get('code')}" for c in codings) or "no coding"
        elif code == "Quantity":
            if "code" not in value:
                return
            ok = expansion.has_coding(value.get("system"), value.get("code"))
            shown = f"{value.get('system')}#{value.get('code')}"
        else:
            return
        if not ok:
            message = f"The value {shown} is not in the value set {url} ({strength} binding)"
            # a Quantity's unit outside a required binding on a many-typed choice is a warning, as in the
            # HL7 validator (R4's vital-signs component.value[x] binds all its types to UCUM vital units)
            if strength == "required" and not (choice and code == "Quantity"):
                issues.error("code-invalid", path, message)
            else:
                issues.warning("code-invalid", path, message)

    def compiled_questionnaire(self, questionnaire: JSON) -> tuple[dict[str, tuple[int, QItem]], frozenset[str]]:
        """The compiled items of a Questionnaire and the linkIds its enableWhens read, cached."""
        key = (questionnaire.get("url"), questionnaire.get("version"), questionnaire.get("id"))
        found = self._questionnaires.get(key)
        if found is None or found[0] is not questionnaire:
            items = compile_items(questionnaire.get("item") or [])
            found = self._questionnaires[key] = (questionnaire, items, watched_links(items))
        return found[1], found[2]

    def check_answers(self, qr: JSON, path: str, issues: Issues) -> None:
        check_answers(self, qr, path, issues)
