"""The CDS Hooks 2.0 endpoints: ``GET /cds-services`` (discovery) and ``POST /cds-services/etmi-patient-view``.

Every service call must carry ``Authorization: Bearer <JWT>`` signed by a configured CDS Client
(``service.adapters.cds_clients``); ``aud`` is this endpoint's public URL (``request.base_url``: the edge
middleware makes its scheme and host those of ``ETMI_PUBLIC_BASE_URL``). Discovery lists only public
metadata and answers without a JWT. Errors are JSON ``{"error", "message", "path"}``: 400 for a malformed
request (also when the app-wide input guard refuses the body: not JSON, too deep, too long), 401 for a
missing or refused JWT, 412 when the data can be neither read from the prefetch nor
fetched. Logs name the event and counts, never a patient id or a token.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from flask import Blueprint, Response, request

from service.adapters.cds_clients import CdsClientVerifier
from service.cds import hooks
from service.cds.cards import cards_for
from service.limits import LimitError
from service.security import InvalidToken

log = logging.getLogger("etmi.cds")
APP_CONTEXT = json.dumps({"cdsService": hooks.SERVICE_ID})


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(err: hooks.CdsError) -> Response:
    response = _json(err.body(), err.status)
    if err.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def blueprint(make_verifier: Callable[[str], CdsClientVerifier], launch_url: Callable[[str], str]) -> Blueprint:
    """The CDS Hooks blueprint. ``make_verifier(aud)`` builds the JWT verifier for the endpoint URL (once);
    ``launch_url(base)`` is the clinician app's SMART launch URL under the public base URL."""
    bp = Blueprint("cds", __name__)
    verifiers: dict[str, CdsClientVerifier] = {}
    lock = threading.Lock()

    def verifier(audience: str) -> CdsClientVerifier:
        with lock:  # the public base URL is fixed: one verifier (and one jti memory) in practice
            if audience not in verifiers:
                if len(verifiers) >= 4:
                    raise hooks.CdsError(401, "invalid_token", "unexpected service URL", "Authorization")
                verifiers[audience] = make_verifier(audience)
            return verifiers[audience]

    @bp.errorhandler(LimitError)  # the app-wide input guard (service/fhir/parse.py) runs before any view
    def limit(err: LimitError) -> Response:
        path = "$" if err.path == "body" else err.path
        return _error(hooks.CdsError(err.status, "invalid_request", err.message, path))

    @bp.get("/cds-services")
    def discovery() -> Response:
        return _json(hooks.DISCOVERY)

    @bp.post(f"/cds-services/{hooks.SERVICE_ID}")
    def patient_view() -> Response:
        try:
            _authenticate(verifier(request.base_url))
            hook = hooks.parse_request(request.get_json(force=True, silent=True))
            careplans, observations = hooks.gather(hook)
        except hooks.CdsError as err:
            log.info("cds call refused", extra={"event": "cds_refused", "status": err.status, "error": err.error})
            return _error(err)
        cards = cards_for(careplans, observations, launch_url(request.url_root), APP_CONTEXT)
        log.info("cds call answered", extra={"event": "cds_cards", "cards": len(cards),
                                             "fetched": len(hooks.PREFETCH) - len(hook.prefetch)})
        return _json({"cards": cards})

    return bp


def _authenticate(verifier: CdsClientVerifier) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise hooks.CdsError(401, "invalid_token", "a CDS Client JWT is required (Authorization: Bearer <JWT>)",
                             "Authorization")
    try:
        verifier.verify(token.strip())
    except InvalidToken as err:
        raise hooks.CdsError(401, "invalid_token", f"CDS Client JWT refused: {err}", "Authorization") from None
