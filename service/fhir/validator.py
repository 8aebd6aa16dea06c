"""The one call into the validator (``service.validation``): swap the body here, nowhere else."""

from __future__ import annotations

from typing import Any

from service.errors import ApiError


def validate(resource: dict[str, Any], profile: str | None = None) -> dict[str, Any]:
    """The validator's OperationOutcome for ``resource`` (against ``profile`` or its meta.profile)."""
    from service.validation import DefinitionsMissing
    from service.validation import validate as run

    try:
        outcome: dict[str, Any] = run(resource, profile=profile)
    except DefinitionsMissing as err:
        raise ApiError(503, "the validator's R4 definitions are not installed") from err
    return outcome

