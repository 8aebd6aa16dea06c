// Outcome Observation profiles: one per measure of the ETMI episode.

Invariant: etmi-range-0-10
Description: "The value is between 0 and 10."
Expression: "(value as Quantity).value >= 0 and (value as Quantity).value <= 10"
Severity: #error

Invariant: etmi-range-0-100
Description: "The value is between 0 and 100."
Expression: "(value as Quantity).value >= 0 and (value as Quantity).value <= 100"
Severity: #error

Invariant: etmi-range-0-24
Description: "The value is between 0 and 24."
Expression: "(value as Quantity).value >= 0 and (value as Quantity).value <= 24"
Severity: #error

Invariant: etmi-range-0-42
Description: "The value is between 0 and 42."
Expression: "(value as Quantity).value >= 0 and (value as Quantity).value <= 42"
Severity: #error

Invariant: etmi-range-0-7
Description: "The value is between 0 and 7 (days per week)."
Expression: "(value as Quantity).value >= 0 and (value as Quantity).value <= 7"
Severity: #error

Invariant: etmi-range-0-600
Description: "The value is between 0 and 600 (minutes per day)."
Expression: "(value as Quantity).value >= 0 and (value as Quantity).value <= 600"
Severity: #error

Invariant: etmi-range-0-4200
Description: "The value is between 0 and 4200 (minutes per week)."
Expression: "(value as Quantity).value >= 0 and (value as Quantity).value <= 4200"
Severity: #error

Invariant: etmi-range-0-6
Description: "The value is between 0 and 6."
Expression: "(value as Quantity).value >= 0 and (value as Quantity).value <= 6"
Severity: #error

Profile: EtmiObservationPain
Parent: Observation
Id: etmi-observation-pain
Title: "ETMI pain intensity (NRS 0-10)"
Description: "Pain intensity on a 0-10 numeric rating scale (LOINC 72514-3), unit {score}; 0 = no pain, 10 = worst imaginable pain (higher = worse). Category survey."
* insert EtmiObservationBase
* insert SurveyCategory
* code = $loinc#72514-3
* insert QuantityValue({score})
* obeys etmi-range-0-10

Profile: EtmiObservationFunction
Parent: Observation
Id: etmi-observation-function
Title: "ETMI function score (0-100, higher is better)"
Description: "Patient-reported function 0-100 (FOTO Lumbar Computerized Adaptive Test style), HIGHER IS BETTER, coded etmi-observation#function-0-100, unit {score}. Interpretation (Wang, Hart, Werneke, Stratford, Mioduski, Clinical Interpretation of Outcome Measures Generated From a Lumbar Computerized Adaptive Test, a cohort of 17,439 patients; confidence [B] for the values; [B] that ETMI's function measure is this CAT, per the registry record NCT04819009): an improvement of 5 points or more is the minimal clinically important difference (MCID), a change of 8 points or more is beyond measurement error (MDC95), a single score is precise to about +/-4. The Oswestry Disability Index (0-100, higher = more disability) has the opposite polarity and must never be mapped onto this profile."
* insert EtmiObservationBase
* insert SurveyCategory
* code = EtmiObservation#function-0-100
* insert QuantityValue({score})
* obeys etmi-range-0-100

Profile: EtmiObservationFearAvoidance
Parent: Observation
Id: etmi-observation-fear-avoidance
Title: "ETMI fear-avoidance score (0-100)"
Description: "Transformed fear-avoidance beliefs score 0-100 supplied by the source system (etmi-observation#fear-avoidance-0-100), unit {score}. HIGHER = MORE FEAR-AVOIDANCE (a fall is an improvement), the direction of the FABQ it derives from. Not a raw FABQ subscale (FABQ-PA is 0-24, FABQ-W 0-42); the transforming instrument is not verified, so no threshold or MCID is claimed."
* insert EtmiObservationBase
* insert SurveyCategory
* code = EtmiObservation#fear-avoidance-0-100
* insert QuantityValue({score})
* obeys etmi-range-0-100

Profile: EtmiObservationFabqPa
Parent: Observation
Id: etmi-observation-fabq-pa
Title: "ETMI FABQ physical activity subscale (0-24)"
Description: "FABQ-PA, the sum of FABQ items 2-5 (etmi-observation#fabq-pa), 0-24, unit {score}; HIGHER = STRONGER FEAR-AVOIDANCE BELIEFS about physical activity. Recorded only when items 2, 3, 4 and 5 are all answered (Waddell et al., Pain 1993)."
* insert EtmiObservationBase
* insert SurveyCategory
* code = EtmiObservation#fabq-pa
* insert QuantityValue({score})
* obeys etmi-range-0-24

Profile: EtmiObservationFabqW
Parent: Observation
Id: etmi-observation-fabq-w
Title: "ETMI FABQ work subscale (0-42)"
Description: "FABQ-W, the sum of FABQ items 6, 7, 9, 10, 11, 12 and 15 (etmi-observation#fabq-w), 0-42, unit {score}; HIGHER = STRONGER FEAR-AVOIDANCE BELIEFS about work. Recorded only for people who work and only when all seven items are answered (Waddell et al., Pain 1993)."
* insert EtmiObservationBase
* insert SurveyCategory
* code = EtmiObservation#fabq-w
* insert QuantityValue({score})
* obeys etmi-range-0-42

Profile: EtmiObservationEvsDaysPerWeek
Parent: Observation
Id: etmi-observation-evs-days-per-week
Title: "ETMI EVS days per week"
Description: "Exercise Vital Sign: days per week of moderate to strenuous physical activity (LOINC 89555-7), 0-7 d/wk. Mirrors the HL7 Physical Activity IG pa-observation-evs-days-per-week on core Observation."
* insert EtmiObservationBase
* insert ActivityCategory
* code = $loinc#89555-7
* insert QuantityValue(d/wk)
* obeys etmi-range-0-7

Profile: EtmiObservationEvsMinPerDay
Parent: Observation
Id: etmi-observation-evs-min-per-day
Title: "ETMI EVS minutes per day"
Description: "Exercise Vital Sign: average minutes of moderate to strenuous exercise on those days (LOINC 68516-4), 0-600 min/d. Mirrors the HL7 Physical Activity IG pa-observation-evs-min-per-day."
* insert EtmiObservationBase
* insert ActivityCategory
* code = $loinc#68516-4
* insert QuantityValue(min/d)
* obeys etmi-range-0-600

Profile: EtmiObservationEvsMinPerWeek
Parent: Observation
Id: etmi-observation-evs-min-per-week
Title: "ETMI EVS minutes per week"
Description: "Moderate to vigorous aerobic physical activity per week (LOINC 82290-8), days x minutes, 0-4200 min/wk. When computed from a questionnaire, derivedFrom references the response and the days-per-week and minutes-per-day Observations; a value reported by a clinic system without them is valid (derivedFrom is optional, as in the HL7 Physical Activity IG pa-observation-evs-min-per-week, which it mirrors)."
* insert EtmiObservationBase
* insert ActivityCategory
* code = $loinc#82290-8
* insert QuantityValue(min/wk)
* obeys etmi-range-0-4200

Profile: EtmiObservationStrengthDaysPerWeek
Parent: Observation
Id: etmi-observation-strength-days-per-week
Title: "ETMI strength days per week"
Description: "Days per week of muscle-strengthening physical activity (LOINC 82291-6), 0-7 d/wk. Mirrors the HL7 Physical Activity IG pa-observation-strength-days-per-week."
* insert EtmiObservationBase
* insert ActivityCategory
* code = $loinc#82291-6
* insert QuantityValue(d/wk)
* obeys etmi-range-0-7

Profile: EtmiObservationStageOfChange
Parent: Observation
Id: etmi-observation-stage-of-change
Title: "ETMI exercise stage of change"
Description: "Transtheoretical model stage of change for regular exercise (etmi-observation#ttm-stage), valueCodeableConcept from the etmi-ttm-stage ValueSet (required). Category survey."
* insert EtmiObservationBase
* insert SurveyCategory
* code = EtmiObservation#ttm-stage
* value[x] only CodeableConcept
* valueCodeableConcept from EtmiTtmStageVS (required)

Profile: EtmiObservationPhq2
Parent: Observation
Id: etmi-observation-phq2
Title: "ETMI PHQ-2 total score"
Description: "Patient Health Questionnaire 2 item total score (LOINC 55758-7), 0-6, unit {score}; higher = more depressive symptoms, 3 or more is a positive depression screen. Recorded only when both items are answered."
* insert EtmiObservationBase
* insert SurveyCategory
* code = $loinc#55758-7
* insert QuantityValue({score})
* obeys etmi-range-0-6

Profile: EtmiObservationGad2
Parent: Observation
Id: etmi-observation-gad2
Title: "ETMI GAD-2 total score"
Description: "Generalized anxiety disorder 2 item total score (etmi-observation#gad2-total; no verified LOINC code), 0-6, unit {score}; higher = more anxiety symptoms, 3 or more is a positive anxiety screen. Recorded only when both items are answered."
* insert EtmiObservationBase
* insert SurveyCategory
* code = EtmiObservation#gad2-total
* insert QuantityValue({score})
* obeys etmi-range-0-6
