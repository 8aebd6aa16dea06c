"""The Provenance written with every chunk of writes: agent = this service, entity = the source QR.

Its id is derived from the target and the outbox entries it covers, so a retried send (after a lost
response) updates the same Provenance instead of adding a second one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from mappings import canonical
from service.sync.ports import Json

AGENT_DISPLAY = "ETMI FHIR interoperability service (etmi-fhir sync)"
AGENT_IDENTIFIER = {"system": f"{canonical.SID}/device", "value": "etmi-fhir-sync"}
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"


def provenance_id(target: str, entry_ids: Sequence[int], chunk: int) -> str:
    digest = hashlib.sha256(f"{target}|{sorted(set(entry_ids))}|{chunk}".encode()).hexdigest()[:40]
    return f"etmi-prov-{digest}"


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
    return resource
