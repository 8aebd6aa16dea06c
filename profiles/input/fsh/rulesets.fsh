// Rules shared by the ETMI profiles.

RuleSet: ProfileMeta
* ^status = #active
* ^experimental = false
* ^publisher = "ETMI FHIR project"
* ^fhirVersion = #4.0.1

// meta.profile must be present (the mapping code always declares the ETMI profile) and the
// resource must carry a business identifier (system = {BASE}/sid/resource, value like "EP-1/goal/G1").
RuleSet: EtmiResource
* insert ProfileMeta
* meta 1..1 MS
* meta.profile 1..* MS
* identifier 1..* MS
* identifier.system 1..1 MS
* identifier.value 1..1 MS

// Slicing of a CodeableConcept list by pattern on the whole element.
RuleSet: SliceByPattern(path)
* {path} ^slicing.discriminator.type = #pattern
* {path} ^slicing.discriminator.path = "$this"
* {path} ^slicing.rules = #open
* {path} ^slicing.description = "Slice by the category coding (pattern)."

// Common shape of every ETMI outcome Observation (mirrors the HL7 Physical Activity IG
// pa-observation-base and US Core screening-assessment, on core Observation).
RuleSet: EtmiObservationBase
* insert EtmiResource
* obeys etmi-obs-status
* status MS
* category 1..* MS
* insert SliceByPattern(category)
* code MS
* subject 1..1 MS
* subject only Reference(Patient)
* effective[x] 1..1 MS
* effective[x] only dateTime
* derivedFrom MS
* derivedFrom only Reference(QuestionnaireResponse or Observation)
* value[x] 1..1 MS

RuleSet: SurveyCategory
* category contains survey 1..1 MS
* category[survey] = $obscat#survey

RuleSet: ActivityCategory
* category contains activity 1..1 MS and PhysicalActivity 1..1 MS
* category[activity] = $obscat#activity
* category[PhysicalActivity] = $pa-temp#PhysicalActivity

// A Quantity value with a fixed UCUM unit code; the range is an invariant of the profile.
RuleSet: QuantityValue(unit)
* value[x] only Quantity
* valueQuantity.value 1..1 MS
* valueQuantity.system 1..1 MS
* valueQuantity.system = "http://unitsofmeasure.org"
* valueQuantity.code 1..1 MS
* valueQuantity.code = #{unit}
* valueQuantity.comparator 0..0

Invariant: etmi-obs-status
Description: "An ETMI outcome Observation is final, amended, corrected or entered-in-error."
Expression: "status = 'final' or status = 'amended' or status = 'corrected' or status = 'entered-in-error'"
Severity: #error
