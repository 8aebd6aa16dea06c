"""Shared transport helpers of the ``/api/v1`` blueprints."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Request, Response, request
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser, is_json_request

from service.caller import actor, request_id
from service.episodes.model import Caller, WriteResult
from service.errors import ApiError
from service.fhir.parse import if_match, parsed_json
from service.fhir.respond import json_response


class BodyParser(FlaskParser):
    """webargs' parser, reading a JSON body as the request guard parsed it (``parsed_json``: the same
    value webargs' own ``json.loads(body.decode("utf-8"))`` gives) instead of parsing it again."""

    def _raw_load_json(self, req: Request) -> Any:
        if is_json_request(req) and (held := parsed_json(req, strict_utf8=True)) is not None:
            return held[0]
        return super()._raw_load_json(req)


class ApiBlueprint(Blueprint):  # type: ignore[misc]  # flask-smorest is untyped
    """A flask-smorest blueprint whose ``arguments`` read the body through ``BodyParser``."""

    ARGUMENTS_PARSER = BodyParser()


def caller(patient_limit: str | None) -> Caller:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= 200:
        raise ApiError(400, "Idempotency-Key must be 1-200 characters", expression="Idempotency-Key")
    who = actor()
    # per caller and path: one client never gets the answer stored for another
    scoped = hashlib.sha256(f"{who}|{request.path}|{key}".encode()).hexdigest() if key else None
    return Caller(actor=who, request_id=request_id(), idempotency_key=scoped, if_match=if_match(),
                  patient_limit=patient_limit)


def respond(result: WriteResult) -> Response:
    headers = dict(result.headers)
    if result.location:
        headers["Location"] = result.location
    return json_response(result.body, result.status, headers)


def require_json_body() -> None:
    """Writes carry a JSON body: anything else is 400 before the schema runs."""
    if request.method in ("POST", "PUT", "PATCH"):
        if not request.is_json:
            raise ApiError(400, "the body must be JSON (Content-Type: application/json)")
        if not request.get_data():
            raise ApiError(400, "the body is empty")
