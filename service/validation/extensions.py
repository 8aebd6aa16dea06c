"""Extension rules beyond the snapshots: URL form, where an extension may be used, modifier or not.

- ``Extension.url`` is an absolute URL, except for the child extensions of a complex extension: those
  are named by a relative URL by design (``"url": "ombCategory"`` in US Core race), as their
  definition's ``Extension.extension:slice.url`` fixes it.
- A known extension may be used only where its definition's ``context`` allows (R4
  StructureDefinition.context, type ``element``): the host element's path (``HumanName.family``,
  ``Patient.name``) or its type or an ancestor of its type (``Element`` anywhere, ``Resource`` and
  ``DomainResource`` on resources). ``extension`` and ``fhirpath`` contexts are accepted (not judged).
- A modifier extension (its definition's root ``isModifier``) belongs in ``modifierExtension`` and a
  plain one in ``extension``.
- An unknown extension is accepted unless the engine's :class:`~service.validation.policy.Policy` says
  otherwise (``unknown_extensions="error"``, the HL7 validator's default; HAPI's ``$validate`` accepts
  them), except in allowed domains and for cross-version extension URLs
  (``http://hl7.org/fhir/5.0/StructureDefinition/extension-DeviceRequest.doNotPerform``).
"""

from __future__ import annotations

import re
from typing import Any

from service.validation.compiler import CORE, Elem
from service.validation.primitives import ABSOLUTE
from service.validation.protocols import Walk

RESOURCE_ROOTS = ("Resource", "DomainResource")
#: Cross-version extensions (R4 "extensions for converting between versions"): their definitions are
#: generated from the other version's element, so the URL form is enough to know one.
XVER = re.compile(r"http://hl7\.org/fhir/\d\.\d/StructureDefinition/extension-[A-Za-z]+\.[A-Za-z.\[\]]+$")


def check_extension(walker: Walk, value: dict[str, Any], elem: Elem, path: str) -> None:
    url = value.get("url")
    if not isinstance(url, str):
        return
    issues = walker.issues
    if ABSOLUTE.match(url) is None:
        if not elem.definition.startswith("Extension.extension"):
            issues.error("value", f"{path}.url", "Extension.url must be an absolute URL")
        return
    engine = walker.engine
    sd = engine.defs.structures.get(url.split("|", 1)[0])
    if sd is None or sd.get("type") != "Extension":
        policy = engine.policy
        known_form = url.startswith(policy.extension_domains) or XVER.match(url) is not None
        if policy.unknown_extensions == "error" and not known_form:
            issues.error("structure", path, f"The extension {url} could not be found so is not allowed here")
        return
    modifier = bool(sd.get("modifier"))
    if elem.name == "extension" and modifier:
        issues.error("structure", path, f"The extension {url} must be used as a modifierExtension (isModifier)")
    elif elem.name == "modifierExtension" and not modifier:
        issues.error("structure", path, f"The extension {url} is not a modifier: it must not be a modifierExtension")
    allowed = _allowed(sd.get("context"))
    if allowed is None:
        return
    host_path, host_type = walker.host
    names = {host_path, host_path.replace("[x]", ""), *_ancestors(walker, host_type)}
    if host_path == host_type and walker.engine.is_resource_type(host_type):
        names.update(RESOURCE_ROOTS)
    if not names & allowed:
        issues.error(
            "structure",
            path,
            f"The extension {url} is not allowed to be used at this point "
            f"(allowed = {', '.join(sorted(allowed))}; this element is {host_type} at {host_path})",
        )


def _allowed(context: Any) -> set[str] | None:
    """The element contexts of a definition, or None when any context is not judged offline."""
    if not isinstance(context, list) or not context:
        return None
    allowed = set()
    for entry in context:
        kind, expression = (entry.get("type"), entry.get("expression")) if isinstance(entry, dict) else (None, None)
        if kind != "element" or not isinstance(expression, str):
            return None
        allowed.add(expression.replace("[x]", ""))
    return None if "Element" in allowed else allowed


def _ancestors(walker: Walk, type_code: str) -> list[str]:
    """The type and every type it derives from (``SimpleQuantity`` → ``Quantity`` → ``Element``)."""
    out = []
    structures = walker.engine.defs.structures
    current: str | None = type_code
    while current and current not in out:
        out.append(current)
        sd = structures.get(CORE + current)
        base = sd.get("baseDefinition") if sd else None
        current = base.rsplit("/", 1)[-1] if isinstance(base, str) and base.startswith(CORE) else None
    return out
