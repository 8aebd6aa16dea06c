"""The Conditions of an episode: the low back pain it addresses, and comorbid depression or anxiety.

Low back pain (profile etmi-condition-clbp) follows the intake's ``lbp.duration`` answer (the latest
completed intake that answers it): ``gt-3mo`` (3 months or more) gives SNOMED CT 278860009 "Chronic low
back pain (finding)" [B]; a shorter episode gives 279039007 "Low back pain (finding)" [B] and a
warning, since ETMI targets chronic low back pain; no answer yet gives 279039007 and an information
issue. The code therefore changes when an intake arrives, so the bundle sends Conditions as
conditional updates. Sources: ``mappings/canonical.py`` and ``docs/``.

Comorbidities (profile etmi-condition-comorbidity): each coded ``comorb.dx`` answer of a completed
intake (SNOMED CT 35489007 "Depressive disorder (disorder)", 197480006 "Anxiety disorder (disorder)"
[A], VSAC) becomes one Condition whose ``evidence.detail`` references every intake response naming
it; free-text answers stay in the QuestionnaireResponse only. These Conditions reference responses,
so they come after them in the bundle.
"""

from __future__ import annotations

from typing import Any

from mappings import canonical as c
from mappings import refs
from mappings.domain import Episode, QuestionnaireAnswers
from mappings.errors import Issue

DURATION_LINK = "lbp.duration"
COMORBIDITY_LINK = "comorb.dx"


def condition_identifier(episode: Episode) -> dict[str, str]:
    return refs.identifier(episode.episode_id, "condition")


def comorbidity_identifier(episode: Episode, code: str) -> dict[str, str]:
    return refs.identifier(episode.episode_id, "comorbidity", code)


def _response_reference(episode: Episode, response: QuestionnaireAnswers) -> dict[str, str]:
    # the identifier of mappings.questionnaire.response_identifier (not imported: it imports careplan)
    return refs.reference("QuestionnaireResponse", refs.identifier(episode.episode_id, "qr", response.response_id))


def _completed_intakes(episode: Episode) -> list[tuple[int, QuestionnaireAnswers]]:
    return [(i, r) for i, r in enumerate(episode.responses)
            if r.questionnaire == "intake" and r.status != "in-progress"]


def episode_duration(episode: Episode) -> tuple[int, str] | None:
    """``(response index, lbp.duration code)`` of the latest completed intake answering it."""
    answered = [(r.authored, i, str(r.answer_map()[DURATION_LINK][0])) for i, r in _completed_intakes(episode)
                if r.answer_map().get(DURATION_LINK)]
    if not answered:
        return None
    _, index, code = max(answered)
    return index, code


def is_chronic(episode: Episode) -> bool:
    found = episode_duration(episode)
    return found is not None and found[1] in c.CHRONIC_DURATIONS


def condition_to_fhir(episode: Episode) -> dict[str, Any]:
    resource = refs.base_resource("Condition", condition_identifier(episode), c.ETMI_SD_CONDITION_CLBP)
    code, display = c.SCT_CHRONIC_LBP if is_chronic(episode) else c.SCT_LBP
    resource.update({
        "clinicalStatus": refs.concept(c.CONDITION_CLINICAL, "active", "Active"),
        "verificationStatus": refs.concept(c.CONDITION_VER_STATUS, "confirmed", "Confirmed"),
        "category": [refs.concept(c.CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
        "code": refs.concept(c.SNOMED, code, display),
        "subject": refs.patient_reference(episode.patient),
        "recordedDate": episode.start,
    })
    return resource


def condition_issues(episode: Episode) -> list[Issue]:
    """Warnings about the episode's low back pain: not chronic, or its duration not known yet."""
    found = episode_duration(episode)
    if found is None:
        return [Issue("information", "incomplete", "no completed intake answers lbp.duration yet: the Condition is "
                      f"low back pain (SNOMED CT {c.SCT_LBP[0]}) until the duration shows 3 months or more",
                      "responses")]
    index, code = found
    if code in c.CHRONIC_DURATIONS:
        return []
    return [Issue("warning", "business-rule", f"lbp.duration is {code!r} (less than 3 months): the Condition is "
                  f"low back pain (SNOMED CT {c.SCT_LBP[0]}), not chronic low back pain; ETMI targets chronic "
                  "low back pain", f"responses[{index}].answers.{DURATION_LINK}")]


def comorbidities_to_fhir(episode: Episode) -> list[dict[str, Any]]:
    """One Condition per comorbid diagnosis named by a completed intake's ``comorb.dx``."""
    named: dict[str, list[QuestionnaireAnswers]] = {}
    for _, response in sorted(_completed_intakes(episode), key=lambda ir: ir[1].authored):
        for value in response.answer_map().get(COMORBIDITY_LINK, ()):
            if isinstance(value, str) and value in c.SCT_COMORBIDITIES:
                named.setdefault(value, []).append(response)
    out = []
    for code in sorted(named):
        responses = named[code]
        resource = refs.base_resource("Condition", comorbidity_identifier(episode, code),
                                      c.ETMI_SD_CONDITION_COMORBIDITY)
        resource.update({
            "clinicalStatus": refs.concept(c.CONDITION_CLINICAL, "active", "Active"),
            "verificationStatus": refs.concept(c.CONDITION_VER_STATUS, "confirmed", "Confirmed"),
            "category": [refs.concept(c.CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
            "code": refs.concept(c.SNOMED, code, c.SCT_COMORBIDITIES[code]),
            "subject": refs.patient_reference(episode.patient),
            "recordedDate": responses[0].authored,
            "evidence": [{"detail": [_response_reference(episode, r) for r in responses]}],
        })
        out.append(resource)
    return out
