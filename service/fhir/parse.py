"""The request side of ``service.limits``: every request is checked before any view runs.

``guard`` (installed by ``service.fhir.errors.register``) refuses a path, query string or JSON body
outside the limits with a 400 OperationOutcome naming the parameter or the JSON path. Views read
numbers and ETags through ``query_int`` and ``if_match`` so that no ``int()`` meets raw input.

The body is parsed once: the guard keeps what it parsed (``parsed_json``), and ``BodyRequest.get_json``
and the API's argument parser answer with it where their own parse of the same bytes would give the same.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Request, request

from service import limits
from service.limits import LimitError

JSON_TYPES = ("application/json", "application/fhir+json", "application/json+fhir")
PARSED = "etmi.parsed_json"  # WSGI environ key: (the body as the guard parsed it,)


def guard() -> None:
    """Path, query and body limits (NUL, surrogates, lengths, depth, 64-bit numbers)."""
    limits.clean_text(request.path, "path", limits.PATH_MAX)
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            limits.clean_text(value, name, limits.PATH_MAX)
    _check_pairs(list(request.args.items(multi=True)))
    if request.content_length or request.headers.get("Transfer-Encoding"):
        _check_body()


def _check_pairs(pairs: list[tuple[str, str]]) -> None:
    if len(pairs) > limits.QUERY_PARAMS_MAX:
        raise LimitError(f"at most {limits.QUERY_PARAMS_MAX} query parameters", "query")
    for name, value in pairs:
        limits.clean_text(name, "query", 200)
        limits.clean_text(value, name, limits.QUERY_VALUE_MAX)


def _check_body() -> None:
    mimetype = request.mimetype
    if mimetype == "application/x-www-form-urlencoded":
        _check_pairs(list(request.form.items(multi=True)))
    elif mimetype in JSON_TYPES or mimetype.endswith("+json"):
        data = request.get_data(cache=True)
        if data:
            request.environ[PARSED] = (limits.load_json(data),)


def parsed_json(req: Request, *, strict_utf8: bool = False) -> tuple[Any] | None:
    """``(value,)``: the body as ``json.loads(body)`` gives it, if the guard parsed it; with ``strict_utf8``
    only for a body that also decodes as strict UTF-8 (``json.loads`` of bytes also reads UTF-16 and -32,
    a BOM, and encoded surrogates), so ``json.loads(body.decode())`` gives the same too."""
    held: tuple[Any] | None = req.environ.get(PARSED)
    if held is None or not strict_utf8:
        return held
    data = req.get_data(cache=True)
    if json.detect_encoding(data) != "utf-8":
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return held


class BodyRequest(Request):
    """Flask's request; ``get_json`` answers with the body the guard parsed (the same ``json.loads``, once)."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any | None:
        if cache and (force or self.is_json) and (held := parsed_json(self)) is not None:
            return held[0]
        return super().get_json(force=force, silent=silent, cache=cache)


def query_int(name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within ``[low, high]`` (400 naming it otherwise)."""
    raw = request.args.get(name)
    return default if raw is None or raw == "" else limits.integer(raw, name, low, high)


def if_match() -> int | None:
    """The version an ``If-Match: W/"<n>"`` header names (400 for anything else)."""
    value = request.headers.get("If-Match")
    if value is None:
        return None
    digits = value.strip().removeprefix("W/").strip('"')
    try:
        return limits.integer(digits, "If-Match", 1, limits.INT32_MAX)
    except LimitError as err:
        raise LimitError(f'If-Match must be an ETag like W/"3" (a version from 1 to {limits.INT32_MAX})',
                         "If-Match") from err


def install(app: Flask) -> None:
    app.request_class = BodyRequest
    app.before_request(guard)
