// External code systems and extensions used by the ETMI implementation guide.
// The URLs are those of mappings/canonical.py.
Alias: $loinc = http://loinc.org
Alias: $sct = http://snomed.info/sct
Alias: $ucum = http://unitsofmeasure.org
Alias: $obscat = http://terminology.hl7.org/CodeSystem/observation-category
Alias: $goal-achievement = http://terminology.hl7.org/CodeSystem/goal-achievement
Alias: $condition-clinical = http://terminology.hl7.org/CodeSystem/condition-clinical
Alias: $condition-ver-status = http://terminology.hl7.org/CodeSystem/condition-ver-status
Alias: $condition-category = http://terminology.hl7.org/CodeSystem/condition-category
Alias: $uscore-careplan-category = http://hl7.org/fhir/us/core/CodeSystem/careplan-category
Alias: $pa-temp = http://hl7.org/fhir/us/physical-activity/CodeSystem/pa-temporary-codes

Alias: $sdc-obs-extract = http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observationExtract
Alias: $sdc-obs-extract-category = http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observation-extract-category
Alias: $sdc-calculated = http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression
Alias: $q-unit = http://hl7.org/fhir/StructureDefinition/questionnaire-unit
Alias: $min-value = http://hl7.org/fhir/StructureDefinition/minValue
Alias: $max-value = http://hl7.org/fhir/StructureDefinition/maxValue
Alias: $ordinal = http://hl7.org/fhir/StructureDefinition/ordinalValue
Alias: $item-control = http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl
