// Goal, CarePlan, Procedure (session) and Condition profiles.

Invariant: etmi-goal-target-range
Description: "The weekly activity target is between 0 and 4200 minutes per week."
Expression: "target.all((detail as Quantity).value >= 0 and (detail as Quantity).value <= 4200)"
Severity: #error

Profile: EtmiGoalActivity
Parent: Goal
Id: etmi-goal-activity
Title: "ETMI physical activity goal"
Description: "A leisure-time physical activity goal in minutes per week (LOINC 82290-8, UCUM min/wk). Mirrors the HL7 Physical Activity IG pa-goal (category PhysicalActivity, target.measure 82290-8, detailQuantity in min/wk, dueDate) on core Goal."
* insert EtmiResource
* obeys etmi-goal-target-range
* lifecycleStatus MS
* achievementStatus MS
* category 1..1 MS
* category = $pa-temp#PhysicalActivity
* description MS
* subject MS
* subject only Reference(Patient)
* start[x] 1..1 MS
* start[x] only date
* target 1..1 MS
* target.measure 1..1 MS
* target.measure = $loinc#82290-8
* target.detail[x] 1..1 MS
* target.detail[x] only Quantity
* target.detailQuantity.value 1..1 MS
* target.detailQuantity.system 1..1 MS
* target.detailQuantity.system = "http://unitsofmeasure.org"
* target.detailQuantity.code 1..1 MS
* target.detailQuantity.code = #min/wk
* target.detailQuantity.comparator 0..0
* target.due[x] MS
* target.due[x] only date
* addresses MS

Profile: EtmiCarePlan
Parent: CarePlan
Id: etmi-careplan
Title: "ETMI care plan"
Description: "The ETMI plan of one episode of care for chronic low back pain. Mirrors the HL7 Physical Activity IG pa-careplan and US Core CarePlan (category assess-plan plus PhysicalActivity, intent plan, generated narrative) on core CarePlan."
* insert EtmiResource
* text 1..1 MS
* status MS
* intent = #plan (exactly)
* intent MS
* category 2..* MS
* insert SliceByPattern(category)
* category contains AssessPlan 1..1 MS and PhysicalActivity 1..1 MS
* category[AssessPlan] = $uscore-careplan-category#assess-plan
* category[PhysicalActivity] = $pa-temp#PhysicalActivity
* title 1..1 MS
* subject MS
* subject only Reference(Patient)
* period 1..1 MS
* period.start 1..1 MS
* addresses MS
* addresses only Reference(Condition)
* goal MS
* goal only Reference(Goal)
* activity MS
* activity.detail MS
* activity.detail.code MS
* activity.detail.code from EtmiSessionComponentVS (extensible)
* activity.detail.status MS

Extension: EtmiSessionNumber
Id: etmi-session-number
Title: "ETMI session number"
Description: "The number of this physiotherapy session within the ETMI episode (1 for the first session)."
* insert ProfileMeta
* ^context[0].type = #element
* ^context[0].expression = "Procedure"
* value[x] 1..1
* value[x] only positiveInt

Extension: EtmiSessionComponentExtension
Id: etmi-session-component
Title: "ETMI session component"
Description: "A component delivered in the session (reassurance, physical activity counselling, stage-matched counselling, brisk-walk exposure, goal setting, postcard); one extension per component."
* insert ProfileMeta
* ^context[0].type = #element
* ^context[0].expression = "Procedure"
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from EtmiSessionComponentVS (extensible)

Profile: EtmiProcedureSession
Parent: Procedure
Id: etmi-procedure-session
Title: "ETMI physiotherapy session"
Description: "One physiotherapy session of an ETMI episode (SNOMED CT 91251008 Physical therapy procedure). The session count is the number of these Procedures. When the session is delivered as ETMI, category carries etmi-intervention#etmi-program."
* insert EtmiResource
* extension contains
    EtmiSessionNumber named sessionNumber 1..1 MS and
    EtmiSessionComponentExtension named sessionComponent 0..* MS
* status MS
* category MS
* code 1..1 MS
* code = $sct#91251008
* subject MS
* subject only Reference(Patient)
* performed[x] 1..1 MS
* performed[x] only dateTime
* basedOn 0..1 MS
* basedOn only Reference(CarePlan)
* reasonReference MS
* reasonReference only Reference(Condition)

Profile: EtmiConditionClbp
Parent: Condition
Id: etmi-condition-clbp
Title: "ETMI low back pain"
Description: "The low back pain problem an ETMI episode addresses; a problem-list item. Chronic low back pain (SNOMED CT 278860009) when the intake says the episode has lasted 3 months or more, low back pain (279039007) otherwise, or while the duration is not known."
* insert EtmiResource
* clinicalStatus MS
* verificationStatus MS
* category 1..* MS
* insert SliceByPattern(category)
* category contains problemListItem 1..1 MS
* category[problemListItem] = $condition-category#problem-list-item
* code 1..1 MS
* code from EtmiLbpConditionVS (required)
* subject MS
* subject only Reference(Patient)

Profile: EtmiConditionComorbidity
Parent: Condition
Id: etmi-condition-comorbidity
Title: "ETMI comorbid depression or anxiety"
Description: "A known diagnosis of depression or anxiety recorded at the ETMI intake (comorb.dx); a problem-list item whose evidence.detail points at the intake QuestionnaireResponse."
* insert EtmiResource
* clinicalStatus 1..1 MS
* verificationStatus 1..1 MS
* category 1..* MS
* insert SliceByPattern(category)
* category contains problemListItem 1..1 MS
* category[problemListItem] = $condition-category#problem-list-item
* code 1..1 MS
* code from EtmiComorbidityVS (required)
* subject 1..1 MS
* subject only Reference(Patient)
* evidence 1..* MS
* evidence.detail 1..* MS
* evidence.detail only Reference(QuestionnaireResponse)
