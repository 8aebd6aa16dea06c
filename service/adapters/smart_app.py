"""SMART App Launch 2.0 (the clinician app's side): discovery, the authorization-code token exchange
with PKCE, token refresh, and a FHIR client that reads with the user's access token.

Every call is bounded (timeouts, a size cap on JSON answers) and goes only to URLs that came from
configuration (the registered issuer) or from that issuer's own discovery document. Failures leave as
``SmartError`` with a short reason for the page; no token or code is ever put in a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from service.adapters.fhir_client import FhirClient
from service.adapters.smart_auth import StaticAuth

TIMEOUT = (5.0, 20.0)
MAX_JSON = 1024 * 1024  # bytes of a discovery or token answer


class SmartError(Exception):
    """The authorization server or the EHR's discovery refused or failed; the message is safe to show."""


@dataclass(frozen=True)
class SmartEndpoints:
    authorize: str
    token: str
    capabilities: tuple[str, ...]


def _json(response: requests.Response, what: str) -> dict[str, Any]:
    if len(response.content) > MAX_JSON:
        raise SmartError(f"{what}: answer too large")
    try:
        body = response.json()
    except ValueError:
        raise SmartError(f"{what}: not JSON (HTTP {response.status_code})") from None
    if not isinstance(body, dict):
        raise SmartError(f"{what}: not a JSON object")
    return body


def discover(iss: str, session: requests.Session | None = None) -> SmartEndpoints:
    """``{iss}/.well-known/smart-configuration``: the authorization and token endpoints."""
    http = session or requests.Session()
    url = iss.rstrip("/") + "/.well-known/smart-configuration"
    try:
        response = http.get(url, headers={"Accept": "application/json"}, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise SmartError(f"the EHR's SMART configuration could not be read ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise SmartError(f"the EHR's SMART configuration answered HTTP {response.status_code}")
    body = _json(response, "SMART configuration")
    authorize, token = body.get("authorization_endpoint"), body.get("token_endpoint")
    if not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in (authorize, token)):
        raise SmartError("the EHR's SMART configuration names no authorization or token endpoint")
    caps = body.get("capabilities")
    capabilities = tuple(c for c in caps if isinstance(c, str)) if isinstance(caps, list) else ()
    return SmartEndpoints(str(authorize), str(token), capabilities)


def _token_call(token_url: str, form: dict[str, str], session: requests.Session | None) -> dict[str, Any]:
    http = session or requests.Session()
    try:
        response = http.post(token_url, data=form, headers={"Accept": "application/json"}, timeout=TIMEOUT,
                             allow_redirects=False)
    except requests.RequestException as exc:
        raise SmartError(f"the token endpoint could not be reached ({type(exc).__name__})") from None
    body = _json(response, "token endpoint")
    if response.status_code != 200 or not isinstance(body.get("access_token"), str):
        error = body.get("error") if isinstance(body.get("error"), str) else f"HTTP {response.status_code}"
        raise SmartError(f"the token endpoint refused: {str(error)[:80]}")
    return body


def exchange_code(token_url: str, client_id: str, code: str, verifier: str, redirect_uri: str,
                  session: requests.Session | None = None) -> dict[str, Any]:
    """The authorization code for tokens (a public client: ``client_id`` and the PKCE verifier)."""
    return _token_call(token_url, {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                                   "client_id": client_id, "code_verifier": verifier}, session)


def refresh(token_url: str, client_id: str, refresh_token: str,
            session: requests.Session | None = None) -> dict[str, Any]:
    return _token_call(token_url, {"grant_type": "refresh_token", "refresh_token": refresh_token,
                                   "client_id": client_id}, session)


def user_client(fhir_base: str, access_token: str) -> FhirClient:
    """A FHIR client for the launching EHR that sends the user's token (paging stays under the base)."""
    client = FhirClient(fhir_base, auth=StaticAuth.bearer(access_token), timeout=TIMEOUT)
    client.session.headers["User-Agent"] = "etmi-clinician-app"
    return client
