"""Responses: the dicts the service built and validated, serialised with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, request

FHIR_JSON = "application/fhir+json"
_FORMATS = {"json": FHIR_JSON, "application/json": "application/json", "application/fhir+json": FHIR_JSON,
            "application/json+fhir": FHIR_JSON}


def dumps(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


def _mimetype(default: str) -> str:
    wanted = request.args.get("_format") if request and default == FHIR_JSON else None
    if wanted:
        return _FORMATS.get(wanted, FHIR_JSON)
    return default


def fhir_response(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                  mimetype: str = FHIR_JSON) -> Response:
    """A FHIR JSON response (``_format=json`` keeps ``application/fhir+json``)."""
    response = Response(dumps(body), status=status, mimetype=_mimetype(mimetype))
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A plain JSON response of the ``/api/v1`` API."""
    return fhir_response(body, status, headers, mimetype="application/json")
