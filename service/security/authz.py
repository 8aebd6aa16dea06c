"""One authorization decision per resource, made from the stored record (never from an incoming payload).

Every reader and writer asks here: ``/fhir`` read, vread, each history version, each search match and
each ``_include``; ``/api/v1`` reads and writes of episodes, their parts and patients; the outbox and the
audit trail. The rules:

- a scope must grant the interaction on the type (else ``Denied``, 403: it says nothing about data);
- a ``patient/`` scope reaches only resources whose *stored* patient is the token's ``patient``; a
  resource outside the compartment is denied exactly like a missing one (``hidden``: 404, same text);
- a patient-scoped write touches only episodes already stored in its compartment, and no write ever
  moves an episode to another patient (the stored episode's patient is compared, not the payload's);
- operator endpoints (outbox, audit) need a ``user/`` or ``system/`` scope; the audit trail needs a
  ``system/`` scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.security import Forbidden, Principal

#: The FHIR types one episode payload carries: reading or writing a whole episode needs the scope on each.
EPISODE_TYPES = ("Patient", "Condition", "CarePlan", "Goal", "Procedure", "QuestionnaireResponse", "Observation")


@dataclass(eq=False)
class Denied(Exception):
    """A refused interaction: ``status`` is what the caller is told; ``hidden`` ones look like a 404."""

    reason: str
    status: int = 403
    resource_type: str = ""
    resource_id: str | None = None
    patient_id: str | None = None  # the stored patient whose data was asked for (for the audit trail)

    def __post_init__(self) -> None:
        super().__init__(self.reason)

    @property
    def hidden(self) -> bool:
        return self.status == 404


def scope_limit(who: Principal, resource_type: str, interaction: str) -> str | None:
    """None when unrestricted; the token's patient when only a ``patient/`` scope allows it; else ``Denied``."""
    try:
        return who.patient_limit(resource_type, interaction)
    except Forbidden as err:
        raise Denied(str(err), 403, resource_type) from err


def scope_limit_all(who: Principal, resource_types: tuple[str, ...], interaction: str) -> str | None:
    """``scope_limit`` for an aggregate of several types (a whole episode): every type must be granted;
    the result is the patient limit if any type is granted only by a ``patient/`` scope."""
    limits = [scope_limit(who, t, interaction) for t in resource_types]
    return next((limit for limit in limits if limit is not None), None)


def check_stored(who: Principal, resource_type: str, interaction: str, stored_patient: str | None,
                 resource_id: str | None, not_found: str) -> None:
    """May ``who`` do ``interaction`` on this stored resource? ``not_found`` is the text of a real 404."""
    limit = scope_limit(who, resource_type, interaction)
    if limit is not None and stored_patient != limit:
        raise Denied(not_found, 404, resource_type, resource_id, stored_patient)


def may_see(who: Principal, resource_type: str, stored_patient: str | None, interaction: str = "r") -> bool:
    """The same decision as ``check_stored``, as a filter (history versions, search matches, includes)."""
    try:
        limit = scope_limit(who, resource_type, interaction)
    except Denied:
        return False
    return limit is None or stored_patient == limit


def check_episode_write(limit: str | None, stored_patient: str | None, new_patient: str, *, creating: bool,
                        episode_id: str, not_found: str) -> None:
    """A write of episode ``episode_id``: ``limit`` from the scopes, ``stored_patient`` from the stored
    episode (None: not stored yet), ``new_patient`` from the new payload.

    A patient-scoped token may write only an episode already stored in its compartment: anything else is
    answered as for a missing episode (a create: 403 either way, so the answer never tells whether the id
    belongs to another patient). Nobody moves a stored episode to another patient (409).
    """
    if limit is not None and stored_patient != limit:
        if creating:
            raise Denied("a patient-scoped token may only write episodes already in its patient's compartment",
                         403, "CarePlan", episode_id, stored_patient)
        raise Denied(not_found, 404, "CarePlan", episode_id, stored_patient)
    if stored_patient is not None and new_patient != stored_patient:
        raise Denied("an episode cannot move to another patient: the payload's patient differs from the "
                     "stored episode's", 409, "CarePlan", episode_id, stored_patient)


def check_patient_create(limit: str | None, new_patient: str) -> None:
    """Registering a patient: a patient-scoped token only its own (403 whether or not the other exists)."""
    if limit is not None and new_patient != limit:
        raise Denied("a patient-scoped token may only register its own patient", 403, "Patient", None, None)


def check_operator(who: Principal, resource_type: str, interaction: str, *, system_only: bool = False) -> None:
    """Operator endpoints (outbox, audit trail): not part of any patient's compartment."""
    if scope_limit(who, resource_type, interaction) is not None:
        raise Denied(f"{resource_type} is not part of a patient compartment", 403, resource_type)
    if system_only and not who.dev and not any(
            s.context == "system" and s.grants(resource_type, interaction) for s in who.scopes):
        raise Denied(f"{resource_type} needs a system/ scope", 403, resource_type)
