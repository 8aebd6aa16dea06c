"""The ``etmi-patient-view`` CDS Service: its discovery entry, its prefetch templates, the request checks
and where its data comes from (the request's prefetch, else the CDS Client's FHIR server).

Prefetch keys absent from a request are fetched from ``fhirServer`` with the ``fhirAuthorization`` bearer
token the request carries (only that server; one page; short timeouts); a key present with ``null``
means the client has no such data. No data and no way to fetch it: 412, as CDS Hooks 2.0 says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mappings import canonical as c
from service.adapters.fhir_client import FhirClient
from service.adapters.smart_auth import StaticAuth
from service.cds.cards import FUNCTION, GAD2, PHQ2
from service.sync.ports import FhirError

Json = dict[str, Any]

SERVICE_ID = "etmi-patient-view"
HOOK = "patient-view"
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
FETCH_TIMEOUT = (3.0, 5.0)  # seconds: connect, read (CDS Services should answer in about 500 ms)
OUTCOME_CODES = ",".join(f"{system}|{code}" for system, code in (FUNCTION, PHQ2, GAD2))
PREFETCH = {
    "etmiCarePlans": f"CarePlan?patient={{{{context.patientId}}}}&identifier={c.SID_RESOURCE}|",
    "etmiOutcomes": f"Observation?patient={{{{context.patientId}}}}&code={OUTCOME_CODES}&_sort=-date&_count=100",
}
DISCOVERY = {"services": [{
    "hook": HOOK, "id": SERVICE_ID, "title": "ETMI low back pain self-management",
    "description": "Cards when the patient follows an active ETMI self-management plan for low back pain, or when "
                   "an ETMI outcome crossed its threshold (function worse by the MCID, a positive PHQ-2 or GAD-2 "
                   "screen); each links to the ETMI clinician app (SMART launch).",
    "prefetch": PREFETCH,
}]}


class CdsError(Exception):
    """A refused call: HTTP status, a short error code, the message and the request element at fault."""

    def __init__(self, status: int, error: str, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.path = status, error, message, path

    def body(self) -> Json:
        return {"error": self.error, "message": self.message, **({"path": self.path} if self.path else {})}


@dataclass(frozen=True)
class HookRequest:
    hook_instance: str
    patient_id: str
    fhir_server: str | None = None
    access_token: str | None = field(default=None, repr=False)
    prefetch: dict[str, Any] = field(default_factory=dict)


def _bad(message: str, path: str) -> CdsError:
    return CdsError(400, "invalid_request", message, path)


def _string(body: Json, name: str, path: str, required: bool = True, limit: int = 2048) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _bad(f"{path} must be a non-empty string of at most {limit} characters", path)
    return value


def _fhir_server(body: Json) -> str | None:
    url = _string(body, "fhirServer", "fhirServer", required=False)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise _bad("fhirServer must be an http(s) URL without credentials", "fhirServer")
    return url


def _access_token(body: Json, server: str | None) -> str | None:
    auth = body.get("fhirAuthorization")
    if auth is None:
        return None
    if not isinstance(auth, dict):
        raise _bad("fhirAuthorization must be an object", "fhirAuthorization")
    token = _string(auth, "access_token", "fhirAuthorization.access_token", limit=8192)
    if str(auth.get("token_type", "")).lower() != "bearer":
        raise _bad("fhirAuthorization.token_type must be Bearer", "fhirAuthorization.token_type")
    if server is None:
        raise _bad("fhirServer is required when fhirAuthorization is given", "fhirServer")
    return token


def parse_request(body: Any) -> HookRequest:
    """The checked request, or ``CdsError`` 400 naming the element and the rule."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", "$")
    if body.get("hook") != HOOK:
        raise _bad(f"hook must be {HOOK!r} for this service", "hook")
    instance = _string(body, "hookInstance", "hookInstance", limit=128)
    context = body.get("context")
    if not isinstance(context, dict):
        raise _bad("context must be an object", "context")
    patient = _string(context, "patientId", "context.patientId", limit=64)
    if not FHIR_ID.match(patient or ""):
        raise _bad("context.patientId must be a FHIR id ([A-Za-z0-9-.]{1,64})", "context.patientId")
    prefetch = body.get("prefetch", {})
    if not isinstance(prefetch, dict):
        raise _bad("prefetch must be an object", "prefetch")
    for key, value in prefetch.items():
        if value is not None and not isinstance(value, dict):
            raise _bad("a prefetch value must be a FHIR resource (a JSON object) or null", f"prefetch.{key}")
    server = _fhir_server(body)
    token = _access_token(body, server)
    assert instance is not None and patient is not None
    return HookRequest(instance, patient, server, token, {k: v for k, v in prefetch.items() if k in PREFETCH})


def resources_of(value: Json | None, resource_type: str) -> list[Json]:
    """The resources of ``resource_type`` in a prefetched or fetched value (a Bundle or one resource)."""
    if value is None:
        return []
    if value.get("resourceType") == "Bundle":
        found = [e.get("resource") for e in value.get("entry") or [] if isinstance(e, dict)
                 and (e.get("search") or {}).get("mode", "match") == "match"]
        return [r for r in found if isinstance(r, dict) and r.get("resourceType") == resource_type]
    return [value] if value.get("resourceType") == resource_type else []


def fetch(request: HookRequest, key: str) -> Json:
    """One prefetch template run against the request's FHIR server with its bearer token."""
    if request.fhir_server is None or request.access_token is None:
        raise CdsError(412, "precondition_failed", f"prefetch {key!r} was not given and the request has no "
                       "fhirServer and fhirAuthorization to fetch it with", f"prefetch.{key}")
    query = PREFETCH[key].replace("{{context.patientId}}", request.patient_id)
    client = FhirClient(request.fhir_server, StaticAuth.bearer(request.access_token), timeout=FETCH_TIMEOUT)
    try:
        return client.request("GET", query).body or {}
    except FhirError as err:
        raise CdsError(412, "precondition_failed", f"the FHIR server did not give {key!r} "
                       f"({type(err).__name__})", "fhirServer") from None
    finally:
        client.session.close()


def _given(prefetch: dict[str, Any], key: str) -> bool:
    """A key the client satisfied (null: no data); an OperationOutcome in its place is a failed prefetch."""
    return key in prefetch and (prefetch[key] is None or prefetch[key].get("resourceType") != "OperationOutcome")


def gather(request: HookRequest) -> tuple[list[Json], list[Json]]:
    """(CarePlans, outcome Observations) from the prefetch, fetching what it leaves out."""
    values = {key: request.prefetch[key] if _given(request.prefetch, key) else fetch(request, key) for key in PREFETCH}
    return resources_of(values["etmiCarePlans"], "CarePlan"), resources_of(values["etmiOutcomes"], "Observation")
