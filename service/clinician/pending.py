"""What the service holds for a patient that has not reached a given EHR yet (its outbox rows)."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from service.store import Store
from service.store.models import OutboxRow

UNSENT = ("pending", "in-flight", "failed", "dead")


def unsent_for(store: Store, target: str | None, remote_patient_id: str) -> int:
    """Outbox rows for ``target`` (or for every target) of the local patient the EHR knows by this id.

    0 when no sync target is configured for the EHR, or when the service never sent this patient there
    (then nothing of the patient comes from the service)."""
    if not target:
        return 0
    local = store.id_map.local_id(target, "Patient", remote_patient_id)
    if local is None:
        return 0
    with store.sessions() as session:
        count = session.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.patient_key == local, OutboxRow.status.in_(UNSENT),
            or_(OutboxRow.target == target, OutboxRow.target.is_(None))))
    return int(count or 0)
