// Profiles for the ETMI Questionnaires and their responses.

Invariant: etmi-qr-versioned
Description: "The questionnaire is referenced with its version (url|version)."
Expression: "questionnaire.contains('|')"
Severity: #error

Invariant: etmi-q-extract-code
Description: "Every item flagged for SDC observation-based extraction carries the Observation code in item.code."
Expression: "item.repeat(item).where(extension('http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observationExtract').value = true).all(code.exists())"
Severity: #error

Profile: EtmiQuestionnaireResponse
Parent: QuestionnaireResponse
Id: etmi-questionnaireresponse
Title: "ETMI questionnaire response"
Description: "A completed ETMI questionnaire (intake, session or outcome). Mirrors US Core / SDC QuestionnaireResponse on core: versioned questionnaire canonical, patient subject, authored time, basedOn the ETMI CarePlan. R4 allows one business identifier (0..1, a single object); ETMI requires it."
* insert ProfileMeta
* meta 1..1 MS
* meta.profile 1..* MS
* identifier 1..1 MS
* identifier.system 1..1 MS
* identifier.value 1..1 MS
* obeys etmi-qr-versioned
* questionnaire 1..1 MS
* status MS
* subject 1..1 MS
* subject only Reference(Patient)
* authored 1..1 MS
* basedOn MS
* basedOn only Reference(CarePlan)
* item MS
* item.linkId MS
* item.answer MS
* item.answer.value[x] MS

Profile: EtmiQuestionnaire
Parent: Questionnaire
Id: etmi-questionnaire
Title: "ETMI questionnaire"
Description: "An ETMI questionnaire following the SDC observation-extractable pattern (sdc-questionnaire-extr-obsn): each item that yields an Observation carries item.code (the Observation code) and the sdc-questionnaire-observationExtract extension (valueBoolean true) on the item, with questionnaire-unit (UCUM) for quantities and sdc-questionnaire-observation-extract-category for the Observation category; totals use sdc-questionnaire-calculatedExpression and are readOnly. SDC itself is not a dependency of this guide."
* insert ProfileMeta
* obeys etmi-q-extract-code
* url 1..1 MS
* version 1..1 MS
* name 1..1 MS
* status MS
* item 1..* MS
* item.code MS
