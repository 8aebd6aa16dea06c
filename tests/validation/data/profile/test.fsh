Alias: $obscat = http://terminology.hl7.org/CodeSystem/observation-category

CodeSystem: TestMethodCS
Id: test-method
* #a "Method A"
* #b "Method B"

ValueSet: TestMethodVS
Id: test-method
* include codes from system TestMethodCS

Extension: TestFlag
Id: test-flag
* value[x] only boolean

Profile: TestObservation
Parent: Observation
Id: test-observation
Title: "Validator test profile"
* extension contains TestFlag named flag 1..1
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #closed
* category contains survey 1..1
* category[survey] = $obscat#survey
* method 1..1
* method from TestMethodVS (required)
* value[x] only Quantity or string
* valueQuantity.unit 1..1
* note 0..0
* obeys test-1

Invariant: test-1
Description: "A string value is at most 10 characters"
Expression: "value.ofType(string).all(length() <= 10)"
Severity: #error
