"""Rules of one datatype value beyond its definition (as the HL7 validator and HAPI apply them)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from service.validation.compiler import Elem
from service.validation.primitives import ABSOLUTE
from service.validation.protocols import Walk
from service.validation.references import check_reference

QUANTITIES = frozenset({"Quantity", "SimpleQuantity", "Age", "Duration", "Count", "Distance", "MoneyQuantity"})
SYSTEM_TYPES = QUANTITIES | {"Coding", "Identifier"}
_SPACE = re.compile(r"\s+")


def check_after(walker: Walk, value: dict[str, Any], elem: Elem, code: str, path: str) -> None:
    engine, issues = walker.engine, walker.issues
    if code == "Reference":
        check_reference(value, elem, path, walker.env, walker.full_urls, engine, issues)
    elif code == "Coding":
        engine.terminology.check_coding(value, path, issues)
    elif code in QUANTITIES:
        engine.terminology.check_ucum(value, path, issues)
    elif code == "Attachment":
        check_attachment(value, path, walker)
    if code in SYSTEM_TYPES:
        system = value.get("system")
        if isinstance(system, str) and ABSOLUTE.match(system) is None:
            issues.error("value", f"{path}.system", f"{code}.system must be an absolute reference, not {system!r}")


def check_attachment(value: dict[str, Any], path: str, walker: Walk) -> None:
    """Attachment.size, when given with inline data, is the number of bytes of that data (R4: "The
    number of bytes of data that make up this attachment (before base64 encoding, if that is done)")."""
    data, size = value.get("data"), value.get("size")
    if not isinstance(data, str) or type(size) is not int:
        return
    try:
        actual = len(base64.b64decode(_SPACE.sub("", data), validate=True))
    except (binascii.Error, ValueError):
        return  # the base64Binary check reports it
    if actual != size:
        walker.issues.error(
            "structure", f"{path}.size", f"Stated Attachment size {size} does not match the data's size {actual}"
        )


def check_canonical(walker: Walk, value: str, elem: Elem, path: str) -> None:
    """A canonical naming a resource the validator holds must name one of the allowed types
    (``QuestionnaireResponse.questionnaire`` pointing at a ValueSet is an error)."""
    targets = elem.canonical_targets
    if targets is None or "Resource" in targets:
        return
    url = value.split("|", 1)[0]
    found = _canonical_kind(walker, url)
    if found is not None and found not in targets:
        allowed = ", ".join(sorted(targets))
        walker.issues.error(
            "structure", path, f"Canonical URL {value!r} refers to a {found}, expecting one of [{allowed}]"
        )


def _canonical_kind(walker: Walk, url: str) -> str | None:
    """The type of the conformance resource the validator holds at a URL (memoised per engine)."""
    memo = walker.engine.canonical_kinds
    if len(url) > 256:  # not remembered: the memo holds short URLs only (a few hundred KiB at most)
        return _kind_of(walker, url)
    if url not in memo:
        if len(memo) > 4096:
            memo.clear()
        memo[url] = _kind_of(walker, url)
    return memo[url]


def _kind_of(walker: Walk, url: str) -> str | None:
    defs = walker.engine.defs
    kinds = (
        ("StructureDefinition", defs.structures),
        ("ValueSet", defs.value_sets),
        ("CodeSystem", defs.code_systems),
        ("Questionnaire", defs.questionnaires),
    )
    return next((kind for kind, known in kinds if url in known), None)
