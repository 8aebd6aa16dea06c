"""Session <-> Procedure (profile etmi-procedure-session), one per physiotherapy session.

Code: SNOMED CT 91251008 "Physical therapy procedure" [A] (Physical Activity IG, VSAC). Sessions
delivered as ETMI (the trial's fidelity "ETMI Code") carry category etmi-intervention#etmi-program.
The number of these Procedures in an episode is the session-count outcome: the outcome
questionnaire's read-only ``episode.sessions_total`` is computed from them (``with_sessions_total``: the
sessions performed on or before the response's date), and a supplied value that differs is refused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mappings import canonical as c
from mappings import refs
from mappings.careplan import SESSION_COMPONENTS, careplan_identifier, component_by_code
from mappings.condition import condition_identifier
from mappings.domain import AnswerValue, Episode, QuestionnaireAnswers, Session
from mappings.errors import Issue, MappingError

PT_PROCEDURE = refs.concept(c.SNOMED, "91251008", "Physical therapy procedure")
ETMI_PROGRAM = refs.concept(c.ETMI_CS_INTERVENTION, c.INTERVENTION_ETMI_PROGRAM, "ETMI programme")


SESSIONS_TOTAL_LINK = "episode.sessions_total"


def sessions_total(episode: Episode, authored: str) -> int:
    """How many of the episode's sessions were performed on or before ``authored`` (calendar days)."""
    return sum(1 for s in episode.sessions if s.performed[:10] <= authored[:10])


def with_sessions_total(response: QuestionnaireAnswers, episode: Episode, items: set[str] | frozenset[str]
                        ) -> tuple[QuestionnaireAnswers, list[Issue]]:
    """An outcome response with ``episode.sessions_total`` computed from the sessions (when ``items``, the
    Questionnaire's linkIds, hold it); an issue when the response supplied another number."""
    if response.questionnaire != "outcome" or SESSIONS_TOTAL_LINK not in items:
        return response, []
    total = sessions_total(episode, response.authored)
    given = response.answer_map().get(SESSIONS_TOTAL_LINK)
    issues = []
    if given and (isinstance(given[0], bool) or given[0] != total):
        issues.append(Issue("error", "business-rule", f"{SESSIONS_TOTAL_LINK} is computed from the session "
                            f"Procedures ({total} performed by {response.authored[:10]}), but {given[0]!r} was "
                            "supplied", f"answers.{SESSIONS_TOTAL_LINK}"))
    answers: list[tuple[str, tuple[AnswerValue, ...]]] = [(k, v) for k, v in response.answers
                                                          if k != SESSIONS_TOTAL_LINK]
    return replace(response, answers=(*answers, (SESSIONS_TOTAL_LINK, (total,)))), issues


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
    by_code = component_by_code()
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
                   components=components)
