"""Valid resources in the shape HAPI FHIR R4 returns them (meta.versionId, lastUpdated with ms and
+00:00, meta.source, narrative), built fresh for every use so tests may mutate them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson

from mappings import canonical as c

DATA = Path(__file__).parent / "data"
TEST_QUESTIONNAIRE = "http://etmi.example.org/fhir/Questionnaire/validation-test"
JSON = dict[str, Any]


def meta(version: str = "3", profile: str | None = None) -> JSON:
    out: JSON = {"versionId": version, "lastUpdated": "2024-05-02T09:14:03.512+00:00", "source": "#Xy12abCD34efGH56"}
    if profile:
        out["profile"] = [profile]
    return out


def narrative(text: str) -> JSON:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{text}</p></div>'}


def ident(value: str) -> list[JSON]:
    return [{"system": c.SID_RESOURCE, "value": value}]


def questionnaire() -> JSON:
    loaded: JSON = orjson.loads((DATA / "Questionnaire-validation-test.json").read_bytes())
    return loaded


def patient() -> JSON:
    return {
        "resourceType": "Patient",
        "id": "1201",
        "meta": meta("1"),
        "text": narrative("Patient P-0001"),
        "identifier": [{"system": c.SID_PATIENT, "value": "P-0001"}],
        "active": True,
        "name": [{"family": "Example", "given": ["Pat"]}],
        "gender": "female",
        "birthDate": "1971-03-14",
    }


def observation() -> JSON:
    return {
        "resourceType": "Observation",
        "id": "1301",
        "meta": meta("3", c.ETMI_SD_OBS_PAIN),
        "text": narrative("Pain now: 6 of 10"),
        "identifier": ident("EP-1/obs/pain.nrs/INTAKE-1"),
        "status": "final",
        "category": [{"coding": [{"system": c.OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}],
        "code": {
            "coding": [
                {
                    "system": c.LOINC,
                    "code": "72514-3",
                    "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
                }
            ],
            "text": "Pain severity",
        },
        "subject": {"reference": "Patient/1201"},
        "effectiveDateTime": "2024-05-02T09:00:00+02:00",
        "issued": "2024-05-02T09:14:03.512+00:00",
        "valueQuantity": {"value": 6, "unit": "{score}", "system": c.UCUM, "code": "{score}"},
        "derivedFrom": [{"reference": "QuestionnaireResponse/1401"}],
        "note": [{"text": "Reported at intake"}],
    }


def questionnaire_response() -> JSON:
    items: list[JSON] = [
        {"linkId": "q1", "text": "Pain now (0-10)", "answer": [{"valueInteger": 6}]},
        {
            "linkId": "q2",
            "answer": [
                {"valueCoding": {"system": c.ETMI_CS_LBP_DURATION, "code": "gt-3mo", "display": "More than 3 months"}}
            ],
        },
        {"linkId": "q3", "answer": [{"valueBoolean": True}]},
        {"linkId": "q4", "answer": [{"valueInteger": 2}]},
        {"linkId": "q5", "answer": [{"valueString": "walking"}]},
        {"linkId": "q6", "answer": [{"valueDecimal": 48.5}]},
        {"linkId": "q7", "answer": [{"valueDate": "2023-09"}]},
        {"linkId": "q8", "answer": [{"valueString": "walking"}, {"valueString": "cycling"}]},
        {"linkId": "g1", "item": [{"linkId": f"g1.{i}", "answer": [{"valueInteger": i}]} for i in range(1, 6)]},
    ]
    items += [{"linkId": f"q{i}", "answer": [{"valueInteger": i % 5}]} for i in range(9, 16)]
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "1401",
        "meta": meta("2"),
        "text": narrative("Intake answers"),
        "identifier": {"system": c.SID_RESOURCE, "value": "EP-1/qr/INTAKE-1"},
        "questionnaire": f"{TEST_QUESTIONNAIRE}|1.0.0",
        "status": "completed",
        "subject": {"reference": "Patient/1201"},
        "authored": "2024-05-02T09:00:00+02:00",
        "item": items,
    }


def goal() -> JSON:
    return {
        "resourceType": "Goal",
        "id": "1501",
        "meta": meta("1", c.ETMI_SD_GOAL),
        "text": narrative("Walking goal"),
        "identifier": ident("EP-1/goal/G1"),
        "lifecycleStatus": "active",
        "achievementStatus": {
            "coding": [{"system": c.GOAL_ACHIEVEMENT, "code": "in-progress", "display": "In Progress"}]
        },
        "category": [
            {"coding": [{"system": c.PA_TEMPORARY_CODES, "code": "PhysicalActivity", "display": "Physical Activity"}]}
        ],
        "description": {"text": "Brisk walking, 30 minutes on 5 days a week"},
        "subject": {"reference": "Patient/1201"},
        "startDate": "2024-05-02",
        "target": [
            {
                "measure": {
                    "coding": [
                        {
                            "system": c.LOINC,
                            "code": "82290-8",
                            "display": "Frequency of moderate to vigorous aerobic physical activity",
                        }
                    ]
                },
                "detailQuantity": {"value": 150, "unit": "minutes per week", "system": c.UCUM, "code": "min/wk"},
                "dueDate": "2024-08-01",
            }
        ],
        "expressedBy": {"reference": "Patient/1201"},
    }


def careplan() -> JSON:
    def detail(system: str, code: str, display: str, status: str) -> JSON:
        return {
            "detail": {"code": {"coding": [{"system": system, "code": code, "display": display}]}, "status": status}
        }

    return {
        "resourceType": "CarePlan",
        "id": "1601",
        "meta": meta("4", c.ETMI_SD_CAREPLAN),
        "text": narrative("ETMI plan for chronic low back pain"),
        "identifier": ident("EP-1/careplan"),
        "status": "active",
        "intent": "plan",
        "category": [
            {
                "coding": [
                    {
                        "system": c.US_CORE_CAREPLAN_CATEGORY,
                        "code": "assess-plan",
                        "display": "Assessment and Plan of Treatment",
                    }
                ]
            },
            {"coding": [{"system": c.PA_TEMPORARY_CODES, "code": "PhysicalActivity", "display": "Physical Activity"}]},
        ],
        "title": "ETMI self-management plan",
        "subject": {"reference": "Patient/1201"},
        "period": {"start": "2024-05-02", "end": "2024-08-01"},
        "addresses": [{"reference": "Condition/1801"}],
        "goal": [{"reference": "Goal/1501"}],
        "activity": [
            detail(c.SNOMED, "304558001", "Reassuring about exercise (procedure)", "completed"),
            detail(c.SNOMED, "435551000124105", "Counseling about physical activity (procedure)", "completed"),
            detail(c.ETMI_CS_INTERVENTION, c.INTERVENTION_BRISK_WALK, "Brisk-walk exposure", "in-progress"),
        ],
    }


def procedure() -> JSON:
    def component(system: str, code: str) -> JSON:
        return {
            "url": f"{c.BASE}/StructureDefinition/etmi-session-component",
            "valueCodeableConcept": {"coding": [{"system": system, "code": code}]},
        }

    return {
        "resourceType": "Procedure",
        "id": "1701",
        "meta": meta("1", c.ETMI_SD_PROCEDURE_SESSION),
        "text": narrative("ETMI session 1"),
        "extension": [
            {"url": f"{c.BASE}/StructureDefinition/etmi-session-number", "valuePositiveInt": 1},
            component(c.SNOMED, "304558001"),
            component(c.ETMI_CS_INTERVENTION, c.INTERVENTION_GOAL_SETTING),
        ],
        "identifier": ident("EP-1/session/1"),
        "status": "completed",
        "category": {"coding": [{"system": c.ETMI_CS_INTERVENTION, "code": c.INTERVENTION_ETMI_PROGRAM}]},
        "code": {"coding": [{"system": c.SNOMED, "code": "91251008", "display": "Physical therapy procedure"}]},
        "subject": {"reference": "Patient/1201"},
        "performedDateTime": "2024-05-02T09:00:00+02:00",
        "basedOn": [{"reference": "CarePlan/1601"}],
        "reasonReference": [{"reference": "Condition/1801"}],
    }


def condition() -> JSON:
    return {
        "resourceType": "Condition",
        "id": "1801",
        "meta": meta("1", c.ETMI_SD_CONDITION_CLBP),
        "text": narrative("Chronic low back pain"),
        "identifier": ident("EP-1/condition/CLBP"),
        "clinicalStatus": {"coding": [{"system": c.CONDITION_CLINICAL, "code": "active"}]},
        "verificationStatus": {"coding": [{"system": c.CONDITION_VER_STATUS, "code": "confirmed"}]},
        "category": [{"coding": [{"system": c.CONDITION_CATEGORY, "code": "problem-list-item"}]}],
        "code": {"coding": [{"system": c.SNOMED, "code": "278860009", "display": "Chronic low back pain (finding)"}]},
        "subject": {"reference": "Patient/1201"},
        "onsetDateTime": "2023-09-01",
    }


BUILDERS = {
    "Patient": patient,
    "Observation": observation,
    "QuestionnaireResponse": questionnaire_response,
    "Questionnaire": questionnaire,
    "Goal": goal,
    "CarePlan": careplan,
    "Procedure": procedure,
    "Condition": condition,
}


def bundle() -> JSON:
    entries = []
    for build in BUILDERS.values():
        resource = build()
        url = f"http://localhost:8080/fhir/{resource['resourceType']}/{resource['id']}"
        mode = "match" if resource["resourceType"] == "Patient" else "include"
        entries.append({"fullUrl": url, "resource": resource, "search": {"mode": mode}})
    return {
        "resourceType": "Bundle",
        "id": "5f2c1b1e-0a51-4a44-9a57-1c8f6c1f0e4b",
        "meta": {"lastUpdated": "2024-05-02T09:14:03.601+00:00"},
        "type": "searchset",
        "total": len(entries),
        "link": [{"relation": "self", "url": "http://localhost:8080/fhir/Patient?_id=1201&_revinclude=*"}],
        "entry": entries,
    }


def fresh(name: str) -> JSON:
    return copy.deepcopy(bundle() if name == "Bundle" else BUILDERS[name]())
