"""Every canonical URL, code system URI and profile URL the project uses: constants only.

The ETMI implementation guide in ``profiles/`` publishes an artifact for every ``ETMI_*`` URL here,
and a contract test (``tests/contract/test_canonical.py``) checks both directions.

Where each external code comes from (confidence tags and sources: ``docs/clinical-content.md``):
- LOINC EVS items 89555-7, 68516-4, 82290-8, 82291-6, exercise activity 73985-4, exercise duration
  55411-3: HL7 Physical Activity IG 1.0.1 (tx.fhir.org cache) [A]; walking answer LA11834-1 [B].
- LOINC pain NRS 72514-3 [A] (VSAC "Standardized Pain Assessment Tool").
- LOINC PHQ items 44250-9, 44255-8 and answers LA6568-5..LA6571-9 [A] (US Core PHQ-9 example);
  PHQ-2 total 55758-7 [B]; GAD items 69725-0, 68509-9 [B]. GAD-2 total has no verified LOINC: local.
- SNOMED CT 278860009 chronic low back pain [B]; 279039007 low back pain (finding) [B] (the domain
  reference, plus a SNOMED CT terminology-server ``$lookup`` probe expecting "Low back pain (finding)"
  and a SNOMED relationship table: is-a 22253000 Pain (finding), site lower back; found with the search
  tool, docs/clinical-content.md); 91251008 physical therapy procedure [A]; 304558001 reassuring
  about exercise [A]; 435551000124105 counseling about physical activity [A] (VSAC "Counseling for
  Physical Activity", PA-IG); comorbid 35489007 depressive disorder [A], 197480006 anxiety disorder [A]
  (VSAC). 710849009 "Assessment of exercise behavior" is the staging, not the counselling, and is not
  used: stage-matched counselling is ``etmi-intervention#stage-matched-counselling``.
- Physical Activity IG category PhysicalActivity (pa-temporary-codes) and observation-category
  ``activity`` / ``survey``: PA-IG and FHIR R4 core [A].
Everything marked UNVERIFIED in the domain reference (FABQ, function 0-100, fear-avoidance 0-100,
TTM stage, GAD-2 total, session count, brisk walking, stage-matched counselling) lives in the project's
own CodeSystems below.
"""

from __future__ import annotations

from typing import Final

#: Canonical base of the ETMI implementation guide. Artifacts in ``profiles/`` are generated for it;
#: ``profiles/build`` accepts ``--canonical`` to publish the guide under another base.
BASE: Final = "http://etmi.example.org/fhir"
IG_PACKAGE_ID: Final = "example.etmi.fhir"
IG_VERSION: Final = "0.1.0"
FHIR_VERSION: Final = "4.0.1"

# --- External code systems -------------------------------------------------------------------
LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
GOAL_ACHIEVEMENT: Final = "http://terminology.hl7.org/CodeSystem/goal-achievement"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VER_STATUS: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
US_CORE_CAREPLAN_CATEGORY: Final = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
PA_TEMPORARY_CODES: Final = "http://hl7.org/fhir/us/physical-activity/CodeSystem/pa-temporary-codes"
PROVENANCE_AGENT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"

# --- Core and SDC extensions used on Questionnaires -------------------------------------------
SDC: Final = "http://hl7.org/fhir/uv/sdc/StructureDefinition"
EXT_OBSERVATION_EXTRACT: Final = f"{SDC}/sdc-questionnaire-observationExtract"
EXT_OBSERVATION_EXTRACT_CATEGORY: Final = f"{SDC}/sdc-questionnaire-observation-extract-category"
EXT_CALCULATED_EXPRESSION: Final = f"{SDC}/sdc-questionnaire-calculatedExpression"
EXT_QUESTIONNAIRE_UNIT: Final = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
EXT_MIN_VALUE: Final = "http://hl7.org/fhir/StructureDefinition/minValue"
EXT_MAX_VALUE: Final = "http://hl7.org/fhir/StructureDefinition/maxValue"
EXT_ORDINAL_VALUE: Final = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
EXT_ITEM_CONTROL: Final = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"

# --- The project's own CodeSystems -------------------------------------------------------------
ETMI_CS_OBSERVATION: Final = f"{BASE}/CodeSystem/etmi-observation"
ETMI_CS_TTM_STAGE: Final = f"{BASE}/CodeSystem/etmi-ttm-stage"
ETMI_CS_ACTIVITY_PREFERENCE: Final = f"{BASE}/CodeSystem/etmi-activity-preference"
ETMI_CS_INTERVENTION: Final = f"{BASE}/CodeSystem/etmi-intervention"
ETMI_CS_LBP_DURATION: Final = f"{BASE}/CodeSystem/etmi-lbp-duration"
ETMI_CS_FABQ_ANSWER: Final = f"{BASE}/CodeSystem/etmi-fabq-answer"
ETMI_CS_GPE: Final = f"{BASE}/CodeSystem/etmi-gpe"

# --- ValueSets ---------------------------------------------------------------------------------
ETMI_VS_TTM_STAGE: Final = f"{BASE}/ValueSet/etmi-ttm-stage"
ETMI_VS_ACTIVITY_PREFERENCE: Final = f"{BASE}/ValueSet/etmi-activity-preference"
ETMI_VS_INTERVENTION: Final = f"{BASE}/ValueSet/etmi-intervention"
ETMI_VS_SESSION_COMPONENT: Final = f"{BASE}/ValueSet/etmi-session-component"
ETMI_VS_LBP_DURATION: Final = f"{BASE}/ValueSet/etmi-lbp-duration"
ETMI_VS_FABQ_ANSWER: Final = f"{BASE}/ValueSet/etmi-fabq-answer"
ETMI_VS_PHQ_ANSWER: Final = f"{BASE}/ValueSet/etmi-phq-answer"
ETMI_VS_GPE: Final = f"{BASE}/ValueSet/etmi-gpe"
ETMI_VS_OBSERVATION_CODE: Final = f"{BASE}/ValueSet/etmi-observation-code"
ETMI_VS_LBP_CONDITION: Final = f"{BASE}/ValueSet/etmi-lbp-condition"
ETMI_VS_COMORBIDITY: Final = f"{BASE}/ValueSet/etmi-comorbidity"

# --- Profiles (StructureDefinition canonical URLs) ---------------------------------------------
_SD = f"{BASE}/StructureDefinition"
ETMI_SD_QUESTIONNAIRE: Final = f"{_SD}/etmi-questionnaire"
ETMI_SD_QUESTIONNAIRE_RESPONSE: Final = f"{_SD}/etmi-questionnaireresponse"
ETMI_SD_OBS_PAIN: Final = f"{_SD}/etmi-observation-pain"
ETMI_SD_OBS_FUNCTION: Final = f"{_SD}/etmi-observation-function"
ETMI_SD_OBS_FEAR_AVOIDANCE: Final = f"{_SD}/etmi-observation-fear-avoidance"
ETMI_SD_OBS_FABQ_PA: Final = f"{_SD}/etmi-observation-fabq-pa"
ETMI_SD_OBS_FABQ_W: Final = f"{_SD}/etmi-observation-fabq-w"
ETMI_SD_OBS_EVS_DAYS: Final = f"{_SD}/etmi-observation-evs-days-per-week"
ETMI_SD_OBS_EVS_MIN_PER_DAY: Final = f"{_SD}/etmi-observation-evs-min-per-day"
ETMI_SD_OBS_EVS_MIN_PER_WEEK: Final = f"{_SD}/etmi-observation-evs-min-per-week"
ETMI_SD_OBS_STRENGTH_DAYS: Final = f"{_SD}/etmi-observation-strength-days-per-week"
ETMI_SD_OBS_STAGE: Final = f"{_SD}/etmi-observation-stage-of-change"
ETMI_SD_OBS_PHQ2: Final = f"{_SD}/etmi-observation-phq2"
ETMI_SD_OBS_GAD2: Final = f"{_SD}/etmi-observation-gad2"
ETMI_SD_GOAL: Final = f"{_SD}/etmi-goal-activity"
ETMI_SD_CAREPLAN: Final = f"{_SD}/etmi-careplan"
ETMI_SD_PROCEDURE_SESSION: Final = f"{_SD}/etmi-procedure-session"
ETMI_SD_CONDITION_CLBP: Final = f"{_SD}/etmi-condition-clbp"
ETMI_SD_CONDITION_COMORBIDITY: Final = f"{_SD}/etmi-condition-comorbidity"
ETMI_EXT_SESSION_NUMBER: Final = f"{_SD}/etmi-session-number"
ETMI_EXT_SESSION_COMPONENT: Final = f"{_SD}/etmi-session-component"

# --- Questionnaires ----------------------------------------------------------------------------
ETMI_Q_INTAKE: Final = f"{BASE}/Questionnaire/etmi-intake"
ETMI_Q_SESSION: Final = f"{BASE}/Questionnaire/etmi-session"
ETMI_Q_OUTCOME: Final = f"{BASE}/Questionnaire/etmi-outcome"
QUESTIONNAIRE_VERSION: Final = "1.0.0"

ETMI_IG: Final = f"{BASE}/ImplementationGuide/{IG_PACKAGE_ID}"

#: The public key of Patient ids in golden files, examples and tests (``mappings.refs.patient_id``). A
#: deployment uses its own secret key (``ETMI_ID_KEY``, or one kept in its database): never this one.
TEST_ID_KEY: Final = b"etmi-fhir public test key: golden files and tests only"

# --- Business identifier systems (NamingSystem-style URIs, not artifacts) ----------------------
SID: Final = f"{BASE}/sid"
SID_PATIENT: Final = f"{SID}/patient"
SID_EPISODE: Final = f"{SID}/episode"
SID_RESOURCE: Final = f"{SID}/resource"

# --- Codes of the project's own CodeSystems ----------------------------------------------------
#: ETMI_CS_OBSERVATION: observation codes with no verified standard code.
OBS_FUNCTION: Final = "function-0-100"  # FOTO LCAT-style function, 0-100, HIGHER IS BETTER
OBS_FEAR_AVOIDANCE: Final = "fear-avoidance-0-100"  # transformed fear-avoidance 0-100 from source system
OBS_FABQ_PA: Final = "fabq-pa"  # FABQ physical activity subscale, items 2+3+4+5, 0-24
OBS_FABQ_W: Final = "fabq-w"  # FABQ work subscale, items 6+7+9+10+11+12+15, 0-42
OBS_FABQ_ITEM_PREFIX: Final = "fabq-item-"  # fabq-item-1 .. fabq-item-16, each 0-6
OBS_GAD2_TOTAL: Final = "gad2-total"  # 0-6, >=3 positive
OBS_TTM_STAGE: Final = "ttm-stage"  # exercise stage of change (value from ETMI_CS_TTM_STAGE)
OBS_SESSION_COUNT: Final = "session-count"  # sessions in the episode
OBS_ETMI_DELIVERED: Final = "etmi-delivered"  # session delivered as ETMI (fidelity, the NCT "ETMI Code")
OBS_PROGNOSIS_BELIEF: Final = "prognosis-belief"  # 0-10, higher = more confident of recovery
OBS_ACTIVITY_PREFERENCE: Final = "activity-preference"
OBS_GPE: Final = "gpe"  # global perceived effect, 7-point
OBS_LBP_DURATION: Final = "lbp-duration"

#: ETMI_CS_TTM_STAGE (Prochaska/Marcus; URI CPRC short form), plus the optional relapse stage.
TTM_STAGES: Final = ("precontemplation", "contemplation", "preparation", "action", "maintenance", "relapse")
#: Displays of ETMI_CS_TTM_STAGE: the stage names. The CPRC answer sentences a patient reads are
#: designations of the CodeSystem and the displays of the Questionnaire's answer options.
TTM_STAGE_NAMES: Final = {code: code.capitalize() for code in TTM_STAGES}

#: SNOMED CT codes of the episode's low back pain Condition, chosen by the intake's lbp.duration.
SCT_CHRONIC_LBP: Final = ("278860009", "Chronic low back pain (finding)")
SCT_LBP: Final = ("279039007", "Low back pain (finding)")
#: Comorbid diagnoses the intake's comorb.dx answers name (SNOMED CT, VSAC [A]).
SCT_COMORBIDITIES: Final = {"35489007": "Depressive disorder (disorder)", "197480006": "Anxiety disorder (disorder)"}
#: lbp.duration answers (ETMI_CS_LBP_DURATION) of an episode that has lasted 3 months or more.
CHRONIC_DURATIONS: Final = frozenset({"gt-3mo"})

#: ETMI_CS_INTERVENTION: ETMI components with no verified SNOMED CT concept.
INTERVENTION_STAGE_MATCHED: Final = "stage-matched-counselling"
INTERVENTION_BRISK_WALK: Final = "brisk-walk-exposure"
INTERVENTION_GOAL_SETTING: Final = "goal-setting"
INTERVENTION_POSTCARD: Final = "postcard"
INTERVENTION_ETMI_PROGRAM: Final = "etmi-program"
