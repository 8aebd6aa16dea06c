"""Native equivalents of R4 core invariants that fhirpathpy can't run or runs slowly.

Each entry maps a constraint key to (the exact R4 expression, a function). The function is used only
when a definition carries exactly that expression; anything else goes to fhirpathpy.
``tests/validation/test_natives.py`` checks each one against fhirpathpy where fhirpathpy can run it.
``htmlChecks()`` (txt-1, txt-2) is not implemented by fhirpathpy: the rules here are those of the
R4 Narrative page (XHTML div, a limited element set, no scripts or event attributes, some content).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from service.validation.fhirpath_json import compare_temporal
from service.validation.narrative import ALLOWED_HTML, div_checks

__all__ = ["ALLOWED_HTML", "NATIVES", "PARTIAL", "Native"]

#: True or False; a key of PARTIAL may also answer None: "evaluate the expression instead".
Native = Callable[[Any, dict[str, Any]], bool | None]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def dom3(data: Any, env: dict[str, Any]) -> bool:
    """Every contained resource is referenced ('#id') from the resource, or references it ('#')."""
    contained = data.get("contained") if isinstance(data, dict) else None
    if not contained:
        return True
    local_refs = {s for s in _strings(data) if s.startswith("#")}
    for resource in contained:
        if not isinstance(resource, dict):
            continue
        if f"#{resource.get('id')}" in local_refs:
            continue
        if "#" not in {s for s in _strings(resource) if s == "#"}:
            return False
    return True


def dom6(data: Any, env: dict[str, Any]) -> bool:
    text = data.get("text") if isinstance(data, dict) else None
    return isinstance(text, dict) and text.get("div") is not None


#: value[x] property names met so far (``valueQuantity``, ...): a set test in C before the loop.
_VALUE_KEYS: set[str] = set()


def _has_value_x(data: dict[str, Any]) -> bool:
    """Whether a value[x] property (``value`` and a type name) is present."""
    if not _VALUE_KEYS.isdisjoint(data):
        return True
    for key in data:
        if key.startswith("value") and key[5:6].isupper():
            if len(_VALUE_KEYS) < 256:
                _VALUE_KEYS.add(key)
            return True
    return False


def ext1(data: Any, env: dict[str, Any]) -> bool:
    return bool(data.get("extension")) != _has_value_x(data)


def ref1(data: Any, env: dict[str, Any]) -> bool:
    reference = data.get("reference")
    if not isinstance(reference, str) or not reference.startswith("#"):
        return True
    root = env.get("rootResource") or {}
    ids = {c.get("id") for c in root.get("contained", []) if isinstance(c, dict)}
    return reference[1:] in ids


def obs7(data: Any, env: dict[str, Any]) -> bool:
    if not _has_value_x(data):
        return True
    codings = (data.get("code") or {}).get("coding") or []
    for component in data.get("component") or []:
        for coding in ((component or {}).get("code") or {}).get("coding") or []:
            if coding in codings:
                return False
    return True


def txt1(data: Any, env: dict[str, Any]) -> bool:
    """The div is XHTML with only the allowed elements and no scripts or event handlers."""
    return div_checks(data)[0]


def txt2(data: Any, env: dict[str, Any]) -> bool:
    """The div has some non-whitespace content (text or an image)."""
    return div_checks(data)[1]


def que2(data: Any, env: dict[str, Any]) -> bool:
    """linkIds are unique across the whole Questionnaire."""
    seen: set[Any] = set()
    stack = list(data.get("item") or [])
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        link = item.get("linkId")
        if link is not None:
            if link in seen:
                return False
            seen.add(link)
        stack.extend(item.get("item") or [])
        for answer in item.get("answerOption") or []:
            stack.extend((answer or {}).get("item") or [])
    return True


def que7(data: Any, env: dict[str, Any]) -> bool:
    """enableWhen 'exists' takes answerBoolean (fhirpathpy's `is Boolean` rejects FHIR booleans)."""
    return data.get("operator") != "exists" or "answerBoolean" in data


def _entries(data: Any) -> list[Any]:
    return [e for e in data.get("entry") or [] if isinstance(e, dict)]


def bdl3(data: Any, env: dict[str, Any]) -> bool:
    """entry.request exists exactly for batch, transaction and history Bundles."""
    wanted = (env.get("resource") or data).get("type") in ("batch", "transaction", "history")
    return all(("request" in e) == wanted for e in _entries(data))


def bdl4(data: Any, env: dict[str, Any]) -> bool:
    """entry.response exists exactly for batch-response, transaction-response and history Bundles."""
    wanted = (env.get("resource") or data).get("type") in ("batch-response", "transaction-response", "history")
    return all(("response" in e) == wanted for e in _entries(data))


def bdl7(data: Any, env: dict[str, Any]) -> bool:
    """fullUrl (with meta.versionId) is unique unless the Bundle is a history."""
    if data.get("type") == "history":
        return True
    keys = [
        str(e["fullUrl"]) + str(((e.get("resource") or {}).get("meta") or {}).get("versionId") or "")
        for e in _entries(data)
        if e.get("fullUrl") is not None
    ]
    return len(keys) == len(set(keys))


def per1(data: Any, env: dict[str, Any]) -> bool | None:
    """Period start <= end, with FHIRPath's precision rule (see fhirpath_json.compare_temporal); only
    for a start and an end that are absent or strings without ``_`` parts, else None."""
    if not isinstance(data, dict) or "_start" in data or "_end" in data:
        return None
    start, end = data.get("start"), data.get("end")
    if start is None or end is None:
        return True  # start.hasValue().not() or end.hasValue().not()
    if type(start) is not str or type(end) is not str:
        return None
    order = compare_temporal(start, end)
    return order is not None and order <= 0


def _exists(data: dict[str, Any], key: str) -> bool:
    """FHIRPath ``key.exists()`` on an R4 JSON object (value and ``_`` part merged by index)."""
    value, extra = data.get(key), data.get("_" + key)
    if isinstance(value, list) or isinstance(extra, list):
        values = value if isinstance(value, list) else []
        extras = extra if isinstance(extra, list) else []
        return any(v is not None for v in values) or any(x is not None for x in extras)
    return value is not None or extra is not None


def qrs1(data: Any, env: dict[str, Any]) -> bool | None:
    """A QuestionnaireResponse item has answers or nested items, not both."""
    if not isinstance(data, dict):
        return None
    return not (_exists(data, "answer") and _exists(data, "item"))


#: Natives that may answer None (leaving the case to fhirpathpy): they cover the common shapes only.
PARTIAL = frozenset({"per-1", "qrs-1"})

NATIVES: dict[str, tuple[str, Native]] = {
    "bdl-3": (
        "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or "
        "%resource.type = 'history'))",
        bdl3,
    ),
    "bdl-4": (
        "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = "
        "'transaction-response' or %resource.type = 'history'))",
        bdl4,
    ),
    "bdl-7": (
        "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()",
        bdl7,
    ),
    "que-7": ("operator = 'exists' implies (answer is Boolean)", que7),
    "dom-3": (
        "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) "
        "| %resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = "
        "'#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) "
        "= '#').exists()).not()).trace('unmatched', id).empty()",
        dom3,
    ),
    "dom-6": ("text.`div`.exists()", dom6),
    "ext-1": ("extension.exists() != value.exists()", ext1),
    "ref-1": (
        "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
        "%rootResource.contained.id.trace('ids'))",
        ref1,
    ),
    "obs-7": (
        "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()",
        obs7,
    ),
    "txt-1": ("htmlChecks()", txt1),
    "txt-2": ("htmlChecks()", txt2),
    "que-2": ("descendants().linkId.isDistinct()", que2),
    "per-1": ("start.hasValue().not() or end.hasValue().not() or (start <= end)", per1),
    "qrs-1": ("(answer.exists() and item.exists()).not()", qrs1),
}
