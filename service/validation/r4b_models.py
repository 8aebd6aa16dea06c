"""Optional second line of defence: the fhir.resources R4B models (``Engine(models=True)``).

The snapshot-driven checks already cover what these models catch (tests show no extra findings on
the fixtures), so this is off by default. Pydantic errors become ``structure`` issues; the known
R4/R4B differences are filtered (R4 allows ``Extension.valueMeta``, which R4B rejects; R4B's extra
``Observation.subject`` targets and ``valueCodeableReference`` are caught by the R4 checks instead).
"""

from __future__ import annotations

from typing import Any

from service.validation.outcome import Issues

#: JSON keys whose pydantic errors are R4B-only verdicts on valid R4 content.
R4_ONLY_KEYS = frozenset({"valueMeta"})


def _expression(root: str, loc: tuple[Any, ...]) -> str:
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "__root__":
            out += f".{part}"
    return out


def check_with_models(resource: dict[str, Any], issues: Issues) -> None:
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return
    try:
        model = get_fhir_model_class(rtype)
    except KeyError:
        return
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error.get("loc", ()))
            if any(part in R4_ONLY_KEYS for part in loc):
                continue
            issues.error("structure", _expression(rtype, loc), f"fhir.resources R4B: {error.get('msg')}")
