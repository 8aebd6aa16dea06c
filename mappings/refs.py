"""Business identifiers, deterministic ids and references shared by every mapping.

Every ETMI resource carries a business identifier (system ``canonical.SID_RESOURCE``, value
``<episode>/<kind>/<local id>``). Its FHIR ``id`` is a UUID derived from that identifier, so the same
input always maps to the same id (golden files stay stable) and the transaction bundle can use
``urn:uuid:<id>`` full URLs that a server resolves through the conditional entries.
"""

from __future__ import annotations

import uuid
from typing import Any

from mappings import canonical
from mappings.domain import PatientRef

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, canonical.BASE)


def identifier(*parts: str | int) -> dict[str, str]:
    """The business identifier of an ETMI resource, e.g. ``identifier("EP-1", "goal", "G1")``."""
    return {"system": canonical.SID_RESOURCE, "value": "/".join(str(p) for p in parts)}


def resource_id(ident: dict[str, str]) -> str:
    """Deterministic FHIR id for a business identifier (a UUID: never numeric, 36 characters)."""
    return str(uuid.uuid5(_NAMESPACE, f"{ident['system']}|{ident['value']}"))


def patient_identifier(patient: PatientRef) -> dict[str, str]:
    return {"system": patient.system, "value": patient.value}


def patient_reference(patient: PatientRef) -> dict[str, str]:
    return {"reference": f"Patient/{resource_id(patient_identifier(patient))}"}


def reference(resource_type: str, ident: dict[str, str]) -> dict[str, str]:
    return {"reference": f"{resource_type}/{resource_id(ident)}"}


def base_resource(resource_type: str, ident: dict[str, str], profile: str | None) -> dict[str, Any]:
    """The common head of an ETMI resource: type, id, profile claim and business identifier."""
    resource: dict[str, Any] = {"resourceType": resource_type, "id": resource_id(ident)}
    if profile:
        resource["meta"] = {"profile": [profile]}
    resource["identifier"] = [ident]
    return resource


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [coding(system, code, display)]}


def local_part(resource: dict[str, Any], kind: str) -> tuple[str, str] | None:
    """Split an ETMI business identifier ``<episode>/<kind>/<local>`` found on ``resource``."""
    idents = resource.get("identifier")
    if isinstance(idents, dict):
        idents = [idents]
    for ident in idents or []:
        if ident.get("system") == canonical.SID_RESOURCE:
            episode, sep, rest = str(ident.get("value", "")).partition(f"/{kind}")
            if sep:
                return episode, rest.lstrip("/")
    return None
