"""The Provenance written with every chunk of writes: agent = this service, entity = the source QR.

Its id is derived from the target, the outbox entries and the resources it covers, so a retried send (after a lost
response) updates the same Provenance instead of adding a second one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from mappings import canonical
from mappings.narrative import with_narrative
from service.sync.ports import Json

AGENT_DISPLAY = "ETMI FHIR interoperability service (etmi-fhir sync)"
AGENT_IDENTIFIER = {"system": f"{canonical.SID}/device", "value": "etmi-fhir-sync"}
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"


def provenance_id(target: str, entry_ids: Sequence[int], chunk: int, keys: Sequence[str]) -> str:
    """Same writes of the same entries → same id (a retry updates it); other writes → another id.
    ``keys`` (the local ``Type/id`` of the writes, derived from business identifiers) keep two
    databases that number their outbox alike from sharing a Provenance."""
    text = f"{target}|{sorted(set(entry_ids))}|{chunk}|{sorted(keys)}"
    return f"etmi-prov-{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def provenance(targets: Sequence[str], sources: Sequence[str], recorded: datetime, pid: str | None) -> Json:
    """``targets``/``sources`` are references as the server must read them (``urn:uuid`` or remote)."""
    resource: Json = {"resourceType": "Provenance"}
    if pid:
        resource["id"] = pid
    resource["target"] = [{"reference": t} for t in targets]
    resource["recorded"] = recorded.isoformat(timespec="seconds")
    resource["activity"] = {"coding": [{"system": DATA_OPERATION, "code": "UPDATE", "display": "revise"}]}
    resource["agent"] = [{
        "type": {"coding": [{"system": canonical.PROVENANCE_AGENT_TYPE, "code": "assembler", "display": "Assembler"}]},
        "who": {"identifier": AGENT_IDENTIFIER, "display": AGENT_DISPLAY},
    }]
    if sources:
        resource["entity"] = [{"role": "source", "what": {"reference": s}} for s in sources]
    return with_narrative(resource)  # a generated narrative, like every resource the service sends (dom-6)
