"""Reads the patient's ETMI resources from the launching EHR with the user's token (through adapters)."""

from __future__ import annotations

from typing import Any

from service.adapters.smart_app import user_client
from service.sync.ports import AuthError, FhirError, NotFoundError

Json = dict[str, Any]
PATIENT_TYPES = ("Observation", "Procedure", "CarePlan", "Goal", "QuestionnaireResponse")
PAGE = "200"
MAX_RESOURCES = 2000  # per type: a patient with more is cut off here (the page says how many it read)


class EhrUnavailable(Exception):
    """The EHR refused (401/403: ``denied``) or failed; the message is safe to show."""

    def __init__(self, message: str, denied: bool = False, missing: bool = False) -> None:
        super().__init__(message)
        self.denied, self.missing = denied, missing


def read_patient(fhir_base: str, access_token: str, patient_id: str) -> dict[str, list[Json]]:
    client = user_client(fhir_base, access_token)
    try:
        try:
            patient = client.read("Patient", patient_id).body or {}
        except NotFoundError:
            raise EhrUnavailable("the EHR has no record of the launch's patient", missing=True) from None
        found: dict[str, list[Json]] = {"Patient": [patient]}
        for rtype in PATIENT_TYPES:
            items: list[Json] = []
            for resource in client.search(rtype, {"patient": patient_id, "_count": PAGE}):
                items.append(resource)
                if len(items) >= MAX_RESOURCES:
                    break
            found[rtype] = items
        return found
    except FhirError as exc:
        raise EhrUnavailable(f"the EHR's FHIR server answered: {type(exc).__name__}",
                             denied=isinstance(exc, AuthError)) from None
    finally:
        client.session.close()
