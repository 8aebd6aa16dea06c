// Examples: at least one valid instance per profile. They reference Patient/example and
// Condition/example, both included here, and use the intake QuestionnaireResponse as source.

Alias: $sid-patient = http://etmi.example.org/fhir/sid/patient
Alias: $sid-resource = http://etmi.example.org/fhir/sid/resource

Instance: example
InstanceOf: Patient
Usage: #example
Title: "Example patient"
Description: "A minimal patient known only by a clinic business identifier."
* identifier.system = $sid-patient
* identifier.value = "P-0001"
* active = true

Instance: example-condition
InstanceOf: EtmiConditionClbp
Usage: #example
Title: "Example chronic low back pain"
Description: "The chronic low back pain problem of the example episode."
* id = "example"
* identifier.system = $sid-resource
* identifier.value = "EP-1/condition/CLBP"
* clinicalStatus = $condition-clinical#active "Active"
* verificationStatus = $condition-ver-status#confirmed "Confirmed"
* category[problemListItem] = $condition-category#problem-list-item "Problem List Item"
* code = $sct#278860009 "Chronic low back pain (finding)"
* subject = Reference(Patient/example)
* onsetDateTime = "2025-09-01"

Instance: example-comorbidity
InstanceOf: EtmiConditionComorbidity
Usage: #example
Title: "Example comorbid anxiety disorder"
Description: "A known anxiety disorder recorded at the example episode's intake."
* identifier.system = $sid-resource
* identifier.value = "EP-1/comorbidity/197480006"
* clinicalStatus = $condition-clinical#active "Active"
* verificationStatus = $condition-ver-status#confirmed "Confirmed"
* category[problemListItem] = $condition-category#problem-list-item "Problem List Item"
* code = $sct#197480006 "Anxiety disorder (disorder)"
* subject = Reference(Patient/example)
* recordedDate = "2026-01-05T09:00:00+02:00"
* evidence.detail = Reference(QuestionnaireResponse/example-qr-intake)

Instance: example-qr-intake
InstanceOf: EtmiQuestionnaireResponse
Usage: #example
Title: "Example intake response"
Description: "Answers to the ETMI intake questionnaire at the first session."
* identifier.system = $sid-resource
* identifier.value = "EP-1/qr/INTAKE-1"
* questionnaire = "http://etmi.example.org/fhir/Questionnaire/etmi-intake|1.0.0"
* status = #completed
* subject = Reference(Patient/example)
* authored = "2026-01-05T09:00:00+02:00"
* basedOn = Reference(CarePlan/example-careplan)
* item[+].linkId = "lbp.duration"
* item[=].answer.valueCoding = EtmiLbpDuration#gt-3mo "More than 3 months"
* item[+].linkId = "pain.nrs"
* item[=].answer.valueInteger = 6
* item[+].linkId = "function.score"
* item[=].answer.valueDecimal = 48.5
* item[+].linkId = "evs.days"
* item[=].answer.valueInteger = 2
* item[+].linkId = "evs.minutes"
* item[=].answer.valueInteger = 20
* item[+].linkId = "evs.min_week"
* item[=].answer.valueInteger = 40
* item[+].linkId = "evs.strength_days"
* item[=].answer.valueInteger = 0
* item[+].linkId = "ttm.stage"
* item[=].answer.valueCoding = EtmiTtmStage#contemplation "No, but I intend to in the next 6 months."
* item[+].linkId = "phq2.q1"
* item[=].answer.valueCoding = $loinc#LA6569-3 "Several days"
* item[+].linkId = "phq2.q2"
* item[=].answer.valueCoding = $loinc#LA6568-5 "Not at all"
* item[+].linkId = "phq2.total"
* item[=].answer.valueInteger = 1

RuleSet: ExampleObservation(identifier, effective)
* identifier.system = $sid-resource
* identifier.value = "{identifier}"
* status = #final
* subject = Reference(Patient/example)
* effectiveDateTime = "{effective}"
* derivedFrom[+] = Reference(QuestionnaireResponse/example-qr-intake)

RuleSet: ExampleScore(value)
* valueQuantity = {value} '{score}' "{score}"

Instance: example-pain
InstanceOf: EtmiObservationPain
Usage: #example
Title: "Example pain 6/10"
Description: "Baseline pain intensity."
* insert ExampleObservation(EP-1/obs/pain.nrs/INTAKE-1, 2026-01-05T09:00:00+02:00)
* category[survey] = $obscat#survey "Survey"
* code = $loinc#72514-3 "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
* insert ExampleScore(6)

Instance: example-function
InstanceOf: EtmiObservationFunction
Usage: #example
Title: "Example function 48.5/100"
Description: "Baseline function score (higher is better)."
* insert ExampleObservation(EP-1/obs/function.score/INTAKE-1, 2026-01-05T09:00:00+02:00)
* category[survey] = $obscat#survey "Survey"
* code = EtmiObservation#function-0-100 "Function score 0-100 (higher is better)"
* insert ExampleScore(48.5)

Instance: example-fear-avoidance
InstanceOf: EtmiObservationFearAvoidance
Usage: #example
Title: "Example fear-avoidance 62/100"
Description: "Baseline transformed fear-avoidance score supplied by the clinic system."
* identifier.system = $sid-resource
* identifier.value = "EP-1/score/FA-1"
* status = #final
* subject = Reference(Patient/example)
* effectiveDateTime = "2026-01-05T09:00:00+02:00"
* category[survey] = $obscat#survey "Survey"
* code = EtmiObservation#fear-avoidance-0-100 "Fear-avoidance beliefs score 0-100"
* insert ExampleScore(62)

Instance: example-fabq-pa
InstanceOf: EtmiObservationFabqPa
Usage: #example
Title: "Example FABQ-PA 17"
Description: "Baseline FABQ physical activity subscale."
* insert ExampleObservation(EP-1/obs/fabq.pa_score/INTAKE-1, 2026-01-05T09:00:00+02:00)
* category[survey] = $obscat#survey "Survey"
* code = EtmiObservation#fabq-pa "FABQ physical activity subscale"
* insert ExampleScore(17)

Instance: example-fabq-w
InstanceOf: EtmiObservationFabqW
Usage: #example
Title: "Example FABQ-W 21"
Description: "Baseline FABQ work subscale."
* insert ExampleObservation(EP-1/obs/fabq.w_score/INTAKE-1, 2026-01-05T09:00:00+02:00)
* category[survey] = $obscat#survey "Survey"
* code = EtmiObservation#fabq-w "FABQ work subscale"
* insert ExampleScore(21)

RuleSet: ActivityCategories
* category[activity] = $obscat#activity "Activity"
* category[PhysicalActivity] = $pa-temp#PhysicalActivity "Physical Activity"

Instance: example-evs-days
InstanceOf: EtmiObservationEvsDaysPerWeek
Usage: #example
Title: "Example EVS 2 days/week"
Description: "Baseline days per week of moderate to strenuous exercise."
* insert ExampleObservation(EP-1/obs/evs.days/INTAKE-1, 2026-01-05T09:00:00+02:00)
* insert ActivityCategories
* code = $loinc#89555-7 "How many days per week did you engage in moderate to strenuous physical activity in the last 30 days"
* valueQuantity = 2 'd/wk' "days per week"

Instance: example-evs-min-per-day
InstanceOf: EtmiObservationEvsMinPerDay
Usage: #example
Title: "Example EVS 20 min/day"
Description: "Baseline minutes per day on those days."
* insert ExampleObservation(EP-1/obs/evs.minutes/INTAKE-1, 2026-01-05T09:00:00+02:00)
* insert ActivityCategories
* code = $loinc#68516-4 "On those days that you engage in moderate to strenuous exercise, how many minutes, on average, do you exercise"
* valueQuantity = 20 'min/d' "minutes per day"

Instance: example-evs-min-per-week
InstanceOf: EtmiObservationEvsMinPerWeek
Usage: #example
Title: "Example EVS 40 min/week"
Description: "Baseline minutes per week, days x minutes."
* insert ExampleObservation(EP-1/obs/evs.min_week/INTAKE-1, 2026-01-05T09:00:00+02:00)
* derivedFrom[+] = Reference(Observation/example-evs-days)
* derivedFrom[+] = Reference(Observation/example-evs-min-per-day)
* insert ActivityCategories
* code = $loinc#82290-8 "Frequency of moderate to vigorous aerobic physical activity"
* valueQuantity = 40 'min/wk' "minutes per week"

Instance: example-strength-days
InstanceOf: EtmiObservationStrengthDaysPerWeek
Usage: #example
Title: "Example strength 0 days/week"
Description: "Baseline days per week of muscle-strengthening activity."
* insert ExampleObservation(EP-1/obs/evs.strength_days/INTAKE-1, 2026-01-05T09:00:00+02:00)
* insert ActivityCategories
* code = $loinc#82291-6 "Frequency of muscle-strengthening physical activity"
* valueQuantity = 0 'd/wk' "days per week"

Instance: example-stage-of-change
InstanceOf: EtmiObservationStageOfChange
Usage: #example
Title: "Example stage of change: contemplation"
Description: "Baseline exercise stage of change."
* insert ExampleObservation(EP-1/obs/ttm.stage/INTAKE-1, 2026-01-05T09:00:00+02:00)
* category[survey] = $obscat#survey "Survey"
* code = EtmiObservation#ttm-stage "Exercise stage of change"
* valueCodeableConcept = EtmiTtmStage#contemplation "Contemplation"

Instance: example-phq2
InstanceOf: EtmiObservationPhq2
Usage: #example
Title: "Example PHQ-2 total 1"
Description: "Baseline PHQ-2 total (negative screen)."
* insert ExampleObservation(EP-1/obs/phq2.total/INTAKE-1, 2026-01-05T09:00:00+02:00)
* category[survey] = $obscat#survey "Survey"
* code = $loinc#55758-7 "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]"
* insert ExampleScore(1)

Instance: example-gad2
InstanceOf: EtmiObservationGad2
Usage: #example
Title: "Example GAD-2 total 3"
Description: "Baseline GAD-2 total (positive screen)."
* identifier.system = $sid-resource
* identifier.value = "EP-1/score/GAD2-1"
* status = #final
* subject = Reference(Patient/example)
* effectiveDateTime = "2026-01-05T09:00:00+02:00"
* category[survey] = $obscat#survey "Survey"
* code = EtmiObservation#gad2-total "GAD-2 total score"
* insert ExampleScore(3)

Instance: example-goal
InstanceOf: EtmiGoalActivity
Usage: #example
Title: "Example walking goal 150 min/week"
Description: "Brisk walking goal agreed at the first session."
* identifier.system = $sid-resource
* identifier.value = "EP-1/goal/G1"
* lifecycleStatus = #active
* achievementStatus = $goal-achievement#in-progress "In Progress"
* category = $pa-temp#PhysicalActivity "Physical Activity"
* description.text = "Brisk walking, 30 minutes on 5 days a week"
* subject = Reference(Patient/example)
* startDate = "2026-01-05"
* target.measure = $loinc#82290-8 "Frequency of moderate to vigorous aerobic physical activity"
* target.detailQuantity = 150 'min/wk' "minutes per week"
* target.dueDate = "2026-04-05"
* addresses = Reference(Observation/example-evs-min-per-week)

Instance: example-careplan
InstanceOf: EtmiCarePlan
Usage: #example
Title: "Example ETMI care plan"
Description: "The ETMI plan of the example episode."
* identifier.system = $sid-resource
* identifier.value = "EP-1/careplan"
* text.status = #generated
* text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>ETMI plan for chronic low back pain: reassurance, physical activity counselling matched to the stage of change, brisk-walk exposure and a walking goal of 150 minutes per week.</p></div>"
* status = #active
* intent = #plan
* category[AssessPlan] = $uscore-careplan-category#assess-plan "Assessment and Plan of Treatment"
* category[PhysicalActivity] = $pa-temp#PhysicalActivity "Physical Activity"
* title = "ETMI self-management plan"
* subject = Reference(Patient/example)
* period.start = "2026-01-05"
* addresses = Reference(Condition/example)
* goal = Reference(Goal/example-goal)
* activity[+].detail.code = $sct#304558001 "Reassuring about exercise (procedure)"
* activity[=].detail.status = #completed
* activity[+].detail.code = $sct#435551000124105 "Counseling about physical activity (procedure)"
* activity[=].detail.status = #completed
* activity[+].detail.code = EtmiIntervention#stage-matched-counselling "Stage-matched physical activity counselling"
* activity[=].detail.status = #completed
* activity[+].detail.code = EtmiIntervention#brisk-walk-exposure "Brisk-walking exposure"
* activity[=].detail.status = #in-progress

Instance: example-session-1
InstanceOf: EtmiProcedureSession
Usage: #example
Title: "Example session 1"
Description: "The first session of the example episode, delivered as ETMI."
* identifier.system = $sid-resource
* identifier.value = "EP-1/session/1"
* extension[sessionNumber].valuePositiveInt = 1
* extension[sessionComponent][+].valueCodeableConcept = $sct#304558001 "Reassuring about exercise (procedure)"
* extension[sessionComponent][+].valueCodeableConcept = $sct#435551000124105 "Counseling about physical activity (procedure)"
* extension[sessionComponent][+].valueCodeableConcept = EtmiIntervention#brisk-walk-exposure "Brisk-walking exposure"
* extension[sessionComponent][+].valueCodeableConcept = EtmiIntervention#goal-setting "Physical activity goal setting"
* status = #completed
* category = EtmiIntervention#etmi-program "ETMI programme"
* code = $sct#91251008 "Physical therapy procedure"
* subject = Reference(Patient/example)
* performedDateTime = "2026-01-05T09:00:00+02:00"
* basedOn = Reference(CarePlan/example-careplan)
* reasonReference = Reference(Condition/example)
