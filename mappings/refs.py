"""Business identifiers, deterministic ids and references shared by every mapping.

Every ETMI resource carries a business identifier (system ``canonical.SID_RESOURCE``, value
``<episode>/<kind>/<local id>``). Its FHIR ``id`` is a UUID derived from that identifier, so the same
input always maps to the same id (golden files stay stable) and the transaction bundle can use
``urn:uuid:<id>`` full URLs that a server resolves through the conditional entries.

The Patient's id is different: its identifier is the clinic's (an MRN), and an unkeyed hash of it
could be reversed by guessing. ``patient_id`` is an HMAC-SHA256 of ``system|value`` under the secret
key of the deployment, given to the mappings in a ``MappingContext`` (``in_context``): the same
identifier always gets the same id within a deployment, and the id reveals nothing without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from mappings import canonical
from mappings.domain import Episode, PatientRef

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, canonical.BASE)
_NAMESPACE_BYTES = _NAMESPACE.bytes


def identifier(*parts: str | int) -> dict[str, str]:
    """The business identifier of an ETMI resource, e.g. ``identifier("EP-1", "goal", "G1")``."""
    try:
        value = "/".join(parts)  # type: ignore[arg-type]  # strings (most parts): joined as they are
    except TypeError:  # a number among them
        value = "/".join(map(str, parts))
    return {"system": canonical.SID_RESOURCE, "value": value}


_IDS: dict[str, str] = {}  # "system|value" -> its id, for the last few thousand identifiers (pure: a cache)


def resource_id(ident: dict[str, str]) -> str:
    """Deterministic FHIR id for a business identifier (a UUID: never numeric, 36 characters). An episode's
    resources refer to its CarePlan and Condition many times: each id is computed once and kept."""
    name = f"{ident['system']}|{ident['value']}"
    known = _IDS.get(name)
    if known is None:
        known = _as_uuid(hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).digest(), "5")
        if len(_IDS) >= 4096:
            _IDS.clear()
        _IDS[name] = known
    return known


#: Hex digit of a UUID's byte 8 high nibble -> the digit with the RFC 4122 variant (top bits 10).
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def _as_uuid(digest: bytes, version: str) -> str:
    """``str(uuid.UUID(bytes=digest[:16], version=...))`` without the UUID object (as ``uuid.uuid5`` does,
    uuid.py): in the hex of the first 16 bytes, the version digit replaces the high nibble of byte 6 (digit 12)
    and the variant's top bits replace those of byte 8 (digit 16)."""
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{version}{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def patient_identifier(patient: PatientRef) -> dict[str, str]:
    return {"system": patient.system, "value": patient.value}


@dataclass(frozen=True)
class MappingContext:
    """What a deployment gives the pure mappings: the secret key of its Patient ids."""

    id_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.id_key) < 16:
            raise ValueError("the Patient id key must be at least 16 bytes")


#: The context of golden files, examples and tests (the public ``canonical.TEST_ID_KEY``).
TEST_CONTEXT = MappingContext(canonical.TEST_ID_KEY)


def in_context(episode: Episode, context: MappingContext) -> Episode:
    """``episode`` whose patient carries the context's key (every Patient reference uses it)."""
    return replace(episode, patient=replace(episode.patient, id_key=context.id_key))


def patient_id(patient: PatientRef) -> str:
    """The Patient's FHIR id: HMAC-SHA256(key, ``system|value``), shown as a UUID (36 characters)."""
    known: str | None = patient.__dict__.get("_fhir_id")
    if known is None:  # computed once per PatientRef (``in_context`` makes a new one for each mapping)
        known = _as_uuid(hmac.digest(patient.id_key, f"{patient.system}|{patient.value}".encode(), "sha256"), "4")
        object.__setattr__(patient, "_fhir_id", known)  # not a field: equality, hash and repr ignore it
    return known


def patient_reference(patient: PatientRef) -> dict[str, str]:
    return {"reference": f"Patient/{patient_id(patient)}"}


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
