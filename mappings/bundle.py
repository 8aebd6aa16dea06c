"""One ETMI episode -> the ordered list of its FHIR resources -> a transaction Bundle.

Entries are conditional on business identifiers, so sending the same Bundle twice changes nothing:
facts that do not change once recorded (Patient, Procedure, QuestionnaireResponse, Observation) are
conditional creates (``ifNoneExist``); Goal and CarePlan, which a clinician may edit, and Condition,
whose code follows the intake's answers, are conditional updates (``PUT Type?identifier=...``; a server
keeps the version when nothing changed). References between entries use ``urn:uuid`` full URLs, and
referenced resources come first, because HAPI enforces referential integrity inside a transaction.

The Patient id is keyed (``refs.patient_id``): callers pass the deployment's ``refs.MappingContext``;
without one, the public test key of the golden files is used. ``episode_issues`` lists what a write
should tell its caller without refusing it (warnings and information).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from mappings import qtables, refs
from mappings.careplan import careplan_to_fhir
from mappings.condition import comorbidities_to_fhir, condition_issues, condition_to_fhir
from mappings.domain import Episode, QuestionnaireAnswers, QuestionnaireKind
from mappings.errors import Issue, MappingError
from mappings.extraction import extract_observations
from mappings.goal import effective_goals, goal_to_fhir, target_issues
from mappings.narrative import with_narrative
from mappings.outcome import score_to_observation, with_stage_name
from mappings.questionnaire import answers_to_questionnaire_response
from mappings.session import session_to_fhir, with_sessions_total

#: Types a clinician may edit in the EHR, or whose content follows later answers: sent as conditional
#: updates. Everything else: conditional create.
UPDATABLE_TYPES = frozenset({"Goal", "CarePlan", "Condition"})


def patient_to_fhir(episode: Episode, context: refs.MappingContext = refs.TEST_CONTEXT) -> dict[str, Any]:
    """The patient as a bare identifier: the service never holds demographics."""
    patient = refs.in_context(episode, context).patient
    return {"resourceType": "Patient", "id": refs.patient_id(patient), "identifier": [refs.patient_identifier(patient)]}


Questionnaires = Mapping[QuestionnaireKind, dict[str, Any]]


def _response(response: QuestionnaireAnswers, episode: Episode, questionnaire: dict[str, Any]) -> dict[str, Any]:
    """The QuestionnaireResponse of one answer set, system-computed items filled in."""
    completed, issues = with_sessions_total(response, episode, frozenset(qtables.tables(questionnaire).items))
    if issues:
        raise MappingError(issues)
    return answers_to_questionnaire_response(completed, episode, questionnaire)


def episode_resources(episode: Episode, questionnaires: Questionnaires,
                      context: refs.MappingContext = refs.TEST_CONTEXT) -> list[dict[str, Any]]:
    """Every resource of an episode, referenced resources before the ones that reference them, each with a
    generated narrative (``mappings.narrative``)."""
    episode = refs.in_context(episode, context)
    issues: list[Issue] = []
    out: list[dict[str, Any]] = [patient_to_fhir(episode, context), condition_to_fhir(episode)]

    def collect(path: str, build: Any, *args: Any) -> Any:
        try:
            return build(*args)
        except MappingError as err:
            issues.extend(Issue(i.severity, i.code, i.diagnostics, f"{path}.{i.expression}") for i in err.issues)
            return None

    out += [collect(f"goals[{i}]", goal_to_fhir, g, episode) for i, g in enumerate(effective_goals(episode))]
    out.append(careplan_to_fhir(episode))
    out += [collect(f"sessions[{i}]", session_to_fhir, s, episode) for i, s in enumerate(episode.sessions)]
    for i, response in enumerate(episode.responses):
        questionnaire = questionnaires[response.questionnaire]
        qr = collect(f"responses[{i}]", _response, response, episode, questionnaire)
        if qr is not None:
            out.append(qr)
            out += [with_stage_name(o) for o in collect(f"responses[{i}]", extract_observations, qr, questionnaire)
                    or []]
    out += comorbidities_to_fhir(episode)
    out += [collect(f"scores[{i}]", score_to_observation, s, episode) for i, s in enumerate(episode.scores)]
    if issues:
        raise MappingError(issues)
    resources = Resources(with_narrative(r) for r in out)  # every resource sent carries a narrative (dom-6)
    for resource in resources:
        if resource["resourceType"] == "QuestionnaireResponse":  # made by answers_to_questionnaire_response
            resources.opaque[id(resource)] = (resource, _QR_OPAQUE)
    return resources


class Resources(list[dict[str, Any]]):
    """The resources ``episode_resources`` made, in a list that also knows which of their elements hold no
    Reference by construction, so ``transaction_bundle`` does not walk them: the items of its
    QuestionnaireResponses (answers of the types ``answer_to_fhir`` makes: codings and primitives). Each entry
    holds the resource and the keys not entered (``NO_REFERENCE_INSIDE`` and those), and is used only for that
    very object: a resource replaced in the list is walked as any other. Rule: the mapped resources are not
    changed in place (as for the Bundle, which shares their parts). A copy (``list()``, a slice, ``copy``,
    pickle) is a plain list."""

    __slots__ = ("opaque",)

    def __init__(self, resources: Iterable[dict[str, Any]] = ()) -> None:
        super().__init__(resources)
        self.opaque: dict[int, tuple[dict[str, Any], frozenset[str]]] = {}

    def __reduce__(self) -> tuple[type[list[dict[str, Any]]], tuple[list[dict[str, Any]]]]:
        return list, (list(self),)


def episode_issues(episode: Episode) -> list[Issue]:
    """What an accepted episode's write reports without refusing it: a low back pain episode shorter than
    3 months (warning) or of unknown duration, goal targets a session replaced (information)."""
    return condition_issues(episode) + target_issues(episode)


_PLAIN_SYSTEM = re.compile(r"[A-Za-z0-9_.~:/-]*")  # what ``quote(..., safe=":/")`` leaves as it is
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.~/-]*")  # what ``quote(..., safe="")`` changes only in its "/"


def conditional_query(resource: dict[str, Any]) -> str:
    """``identifier=system|value`` search for the resource's first business identifier (percent-encoded as
    ``urllib.parse.quote`` does; the common plain strings without calling it)."""
    idents = resource["identifier"]
    ident = idents[0] if isinstance(idents, list) else idents
    system, value = ident["system"], ident["value"]
    system = system if isinstance(system, str) and _PLAIN_SYSTEM.fullmatch(system) else quote(system, safe=":/")
    value = value.replace("/", "%2F") if isinstance(value, str) and _PLAIN_VALUE.fullmatch(value) \
        else quote(value, safe="")
    return f"identifier={system}|{value}"


#: Elements whose R4 datatype holds no Reference at any depth (Narrative, Meta, Coding, CodeableConcept, Quantity):
#: the reference rewrite does not look inside them.
NO_REFERENCE_INSIDE = frozenset({"text", "meta", "coding", "code", "category", "valueCoding", "valueCodeableConcept",
                                 "valueQuantity"})
#: ... and elements whose R4 type is a primitive wherever they occur (a string, a number or a boolean): a dict with
#: no other keys holds no Reference (an Identifier of system and value, an answer's value, a Coding), and the
#: rewrite does not enter it.
FLAT_KEYS = NO_REFERENCE_INSIDE | frozenset({
    "system", "value", "display", "version", "userSelected", "unit", "linkId", "url", "valueBoolean", "valueInteger",
    "valueDecimal", "valueString", "valueDate", "valueDateTime", "valueTime", "valueInstant", "valueUri", "valueUrl",
    "valueCanonical", "valueCode", "valueId", "valueOid", "valueUuid", "valueMarkdown", "valuePositiveInt",
    "valueUnsignedInt", "valueBase64Binary"})


#: The top-level elements of a QuestionnaireResponse the mapping made that the rewrite does not enter.
_QR_OPAQUE = NO_REFERENCE_INSIDE | {"item"}


def _rewrite(value: dict[str, Any], local: dict[str, str], skip: frozenset[str] = NO_REFERENCE_INSIDE
             ) -> dict[str, Any]:
    """``value`` with in-bundle references replaced: a dict or list on the way to a replaced reference is a
    new one, everything else is shared with ``value`` (not copied: the mapped resources are not changed
    afterwards, and the Bundle is only serialised). Plain dicts and lists are told apart by their class
    first (the JSON of every resource), subclasses by ``isinstance``; a dict of ``FLAT_KEYS`` is not entered,
    and a plain Reference of one key is rewritten where it is found (``_element``). ``skip``: the keys not
    entered (a resource's elements that hold no Reference by construction, ``Resources``)."""
    out = None
    for key, item in value.items():
        cls = item.__class__
        if cls is str:  # most values: only a reference's changes
            if key != "reference" or (new := local.get(item, item)) is item:
                continue
        elif key in skip:
            continue
        elif cls is list or (cls is not dict and isinstance(item, list)):
            if (new := _rewrite_list(item, local)) is item:
                continue
        elif cls is dict or isinstance(item, dict):
            if (new := _element(item, local)) is item:
                continue
        elif not isinstance(item, str) or key != "reference" or (new := local.get(item, item)) is item:
            continue  # a number or a boolean, or a string of a str subclass that is not a local reference
        if out is None:  # a rewritten reference below this dict
            out = dict(value)
        out[key] = new
    return value if out is None else out


def _element(value: dict[str, Any], local: dict[str, str]) -> dict[str, Any]:
    """``_rewrite`` of a dict below the resource: a plain Reference ``{"reference": "Type/id"}`` and a dict of
    ``FLAT_KEYS`` decided without walking them."""
    if len(value) == 1 and (ref := value.get("reference")).__class__ is str:
        new = local.get(ref)
        return value if new is None else {"reference": new}
    return value if value.keys() <= FLAT_KEYS else _rewrite(value, local)


def _rewrite_list(value: list[Any], local: dict[str, str]) -> list[Any]:
    """``_rewrite`` of a list: its elements, ``_element``'s two cases inline (most elements)."""
    changed = None
    for i, item in enumerate(value):
        cls = item.__class__
        if cls is dict:
            if len(item) == 1 and (ref := item.get("reference")).__class__ is str:
                if (target := local.get(ref)) is None:
                    continue
                new: Any = {"reference": target}
            elif item.keys() <= FLAT_KEYS or (new := _rewrite(item, local)) is item:
                continue
        elif cls is list or isinstance(item, list):
            if (new := _rewrite_list(item, local)) is item:
                continue
        elif isinstance(item, dict):
            if (new := _element(item, local)) is item:
                continue
        else:
            continue
        if changed is None:
            changed = list(value)
        changed[i] = new
    return value if changed is None else changed


def transaction_bundle(resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle of conditional entries; in-bundle references become ``urn:uuid`` URLs. Each entry's
    resource is a new dict (without ``id``) that shares the parts holding no in-bundle reference with the
    given resource (``_rewrite``): neither is changed here. Elements of ``episode_resources``' resources that hold
    no Reference by construction (``Resources``) are not walked."""
    opaque = resources.opaque if isinstance(resources, Resources) else {}
    resources = list(resources)
    local = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:{r['id']}" for r in resources}
    entries = []
    for resource in resources:
        known = opaque.get(id(resource))
        body = _rewrite(resource, local) if known is None or known[0] is not resource \
            else _rewrite(resource, local, known[1])
        body = dict(body) if body is resource else body  # a new dict either way
        body.pop("id", None)
        rtype, query = resource["resourceType"], conditional_query(resource)
        request = ({"method": "PUT", "url": f"{rtype}?{query}"} if rtype in UPDATABLE_TYPES
                   else {"method": "POST", "url": rtype, "ifNoneExist": query})
        entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": body, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def episode_to_bundle(episode: Episode, questionnaires: Questionnaires,
                      context: refs.MappingContext = refs.TEST_CONTEXT) -> dict[str, Any]:
    return transaction_bundle(episode_resources(episode, questionnaires, context))
