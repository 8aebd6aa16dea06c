// ValueSets of the ETMI implementation guide (one per ETMI_VS_* constant of mappings/canonical.py).

RuleSet: LocalValueSet
* ^status = #active
* ^experimental = false
* ^publisher = "ETMI FHIR project"

ValueSet: EtmiTtmStageVS
Id: etmi-ttm-stage
Title: "ETMI exercise stage of change"
Description: "All exercise stages of change (etmi-ttm-stage)."
* insert LocalValueSet
* include codes from system EtmiTtmStage

ValueSet: EtmiActivityPreferenceVS
Id: etmi-activity-preference
Title: "ETMI physical activity preferences"
Description: "All activity preference codes (etmi-activity-preference)."
* insert LocalValueSet
* include codes from system EtmiActivityPreference

ValueSet: EtmiInterventionVS
Id: etmi-intervention
Title: "ETMI intervention components"
Description: "All ETMI intervention codes (etmi-intervention)."
* insert LocalValueSet
* include codes from system EtmiIntervention

ValueSet: EtmiSessionComponentVS
Id: etmi-session-component
Title: "ETMI session components"
Description: "What a physiotherapist delivers in an ETMI session: the verified SNOMED CT counselling procedures (VSAC 'Counseling for Physical Activity') plus the local ETMI intervention codes (stage-matched counselling among them)."
* insert LocalValueSet
* $sct#304558001 "Reassuring about exercise (procedure)"
* $sct#435551000124105 "Counseling about physical activity (procedure)"
* include codes from system EtmiIntervention

ValueSet: EtmiLbpDurationVS
Id: etmi-lbp-duration
Title: "ETMI low back pain episode duration"
Description: "All episode duration bands (etmi-lbp-duration)."
* insert LocalValueSet
* include codes from system EtmiLbpDuration

ValueSet: EtmiFabqAnswerVS
Id: etmi-fabq-answer
Title: "ETMI FABQ answer scale"
Description: "The FABQ 0-6 agreement scale (etmi-fabq-answer)."
* insert LocalValueSet
* include codes from system EtmiFabqAnswer

ValueSet: EtmiPhqAnswerVS
Id: etmi-phq-answer
Title: "PHQ/GAD answer list"
Description: "The LOINC answers of the PHQ and GAD items (ordinal 0-3), as used by the US Core PHQ-9 example."
* insert LocalValueSet
* $loinc#LA6568-5 "Not at all"
* $loinc#LA6569-3 "Several days"
* $loinc#LA6570-1 "More than half the days"
* $loinc#LA6571-9 "Nearly every day"

ValueSet: EtmiGpeVS
Id: etmi-gpe
Title: "ETMI global perceived effect"
Description: "The 7-point global perceived effect scale (etmi-gpe)."
* insert LocalValueSet
* include codes from system EtmiGpe

ValueSet: EtmiObservationCodeVS
Id: etmi-observation-code
Title: "ETMI observation codes"
Description: "All codes of the etmi-observation CodeSystem."
* insert LocalValueSet
* include codes from system EtmiObservation

ValueSet: EtmiLbpConditionVS
Id: etmi-lbp-condition
Title: "ETMI low back pain condition"
Description: "The SNOMED CT code of the low back pain an ETMI episode addresses, chosen by the intake's episode duration: chronic low back pain when it has lasted 3 months or more, low back pain otherwise (or when the duration is not known)."
* insert LocalValueSet
* $sct#278860009 "Chronic low back pain (finding)"
* $sct#279039007 "Low back pain (finding)"

ValueSet: EtmiComorbidityVS
Id: etmi-comorbidity
Title: "ETMI comorbid diagnoses"
Description: "Known comorbid diagnoses the ETMI intake records (comorb.dx): depressive disorder and anxiety disorder (SNOMED CT, VSAC)."
* insert LocalValueSet
* $sct#35489007 "Depressive disorder (disorder)"
* $sct#197480006 "Anxiety disorder (disorder)"
