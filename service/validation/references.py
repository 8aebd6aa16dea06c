"""Reference checks: format, resource type known, and the element's allowed target types."""

from __future__ import annotations

import re
from typing import Any

from service.validation.compiler import Elem
from service.validation.outcome import Issues
from service.validation.primitives import urn_problem
from service.validation.protocols import Validator

_REF = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")
_RELATIVE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


def _target_type(ref: str, env: dict[str, Any], full_urls: dict[str, str], engine: Validator, path: str,
                 issues: Issues) -> str | None:  # fmt: skip
    """The resource type a reference points to, when it can be told; reports malformed references."""
    if ref.startswith("#"):
        root = env.get("rootResource") or env.get("resource") or {}
        contained = root.get("contained") if isinstance(root, dict) else None
        types = [c.get("resourceType") for c in contained or [] if isinstance(c, dict) and c.get("id") == ref[1:]]
        return types[0] if types and isinstance(types[0], str) else None
    if ref in full_urls:  # any entry's fullUrl (urn:uuid:, or an opaque URI such as "resource:0")
        return full_urls[ref]
    if ref.startswith("urn:"):
        problem = urn_problem(ref)
        if problem is not None:
            issues.error("value", f"{path}.reference", problem)
        return None
    if _RELATIVE.match(ref) is not None:  # the common case: Type/id; _REF would find the same type
        found = ref[: ref.index("/")]
    else:
        match = _REF.search(ref)
        if match is None:
            if "://" not in ref:
                issues.error("value", f"{path}.reference", f"Invalid reference {ref!r}")
            return None
        if "://" not in ref:
            issues.error("value", f"{path}.reference", f"Invalid relative reference {ref!r}")
        found = match.group(1)
    if not engine.is_resource_type(found):
        issues.error("value", f"{path}.reference", f"Unknown resource type {found!r} in {ref!r}")
        return None
    return found


def check_reference(value: dict[str, Any], elem: Elem, path: str, env: dict[str, Any], full_urls: dict[str, str],
                    engine: Validator, issues: Issues) -> None:  # fmt: skip
    ref = value.get("reference")
    found = _target_type(ref, env, full_urls, engine, path, issues) if isinstance(ref, str) else None
    for kind, where in ((found, "reference"), (value.get("type"), "type")):
        if isinstance(kind, str) and elem.targets is not None and kind not in elem.targets:
            allowed = ", ".join(sorted(elem.targets))
            issues.error(
                "structure",
                f"{path}.{where}",
                f"The type '{kind}' is not a valid target for this element (must be one of {allowed})",
            )
