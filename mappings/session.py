"""Session <-> Procedure (profile etmi-procedure-session), one per physiotherapy session.

Code: SNOMED CT 91251008 "Physical therapy procedure" [A] (Physical Activity IG, VSAC). Sessions
delivered as ETMI (the trial's fidelity "ETMI Code") carry category etmi-intervention#etmi-program.
The number of these Procedures in an episode is the session-count outcome.
"""

from __future__ import annotations

from typing import Any

from mappings import canonical as c
from mappings import refs
from mappings.careplan import SESSION_COMPONENTS, careplan_identifier, condition_identifier
from mappings.domain import Episode, Session
from mappings.errors import Issue, MappingError

PT_PROCEDURE = refs.concept(c.SNOMED, "91251008", "Physical therapy procedure")
ETMI_PROGRAM = refs.concept(c.ETMI_CS_INTERVENTION, c.INTERVENTION_ETMI_PROGRAM, "ETMI programme")


def session_identifier(episode: Episode, session: Session) -> dict[str, str]:
    return refs.identifier(episode.episode_id, "session", session.number)


def session_to_fhir(session: Session, episode: Episode) -> dict[str, Any]:
    if session.number < 1:
        raise MappingError([Issue("error", "value", "session number starts at 1", "session.number")])
    resource = refs.base_resource("Procedure", session_identifier(episode, session), c.ETMI_SD_PROCEDURE_SESSION)
    extension: list[dict[str, Any]] = [{"url": c.ETMI_EXT_SESSION_NUMBER, "valuePositiveInt": session.number}]
    extension += [{"url": c.ETMI_EXT_SESSION_COMPONENT, "valueCodeableConcept": {"coding": [SESSION_COMPONENTS[k]]}}
                  for k in session.components]
    resource["extension"] = extension
    resource["basedOn"] = [refs.reference("CarePlan", careplan_identifier(episode))]
    resource["status"] = "completed"
    if session.etmi_delivered:
        resource["category"] = ETMI_PROGRAM
    resource.update({
        "code": PT_PROCEDURE,
        "subject": refs.patient_reference(episode.patient),
        "performedDateTime": session.performed,
        "reasonReference": [refs.reference("Condition", condition_identifier(episode))],
    })
    return resource


def session_from_fhir(resource: dict[str, Any]) -> Session:
    by_code = {(cd["system"], cd["code"]): k for k, cd in SESSION_COMPONENTS.items()}
    number = next((e.get("valuePositiveInt") for e in resource.get("extension", [])
                   if e.get("url") == c.ETMI_EXT_SESSION_NUMBER), None)
    if not isinstance(number, int):
        raise MappingError([Issue("error", "required", "session number extension is required",
                                  "Procedure.extension")])
    components = tuple(by_code[(cd["system"], cd["code"])] for e in resource.get("extension", [])
                       if e.get("url") == c.ETMI_EXT_SESSION_COMPONENT
                       for cd in e["valueCodeableConcept"]["coding"] if (cd["system"], cd["code"]) in by_code)
    delivered = any(cd.get("code") == c.INTERVENTION_ETMI_PROGRAM
                    for cd in resource.get("category", {}).get("coding", []))
    return Session(number=number, performed=resource["performedDateTime"], etmi_delivered=delivered,
                   components=components)  # type: ignore[arg-type]
