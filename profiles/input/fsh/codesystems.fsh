// The project's own CodeSystems. Each exists because no verified standard code was found
// (see docs/clinical-content.md): they keep ConceptMap slots free for future LOINC/SNOMED codes.

RuleSet: LocalCodeSystem
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* ^publisher = "ETMI FHIR project"

CodeSystem: EtmiObservation
Id: etmi-observation
Title: "ETMI observation codes"
Description: "Observation and questionnaire item codes for ETMI concepts that have no verified LOINC code: the FOTO LCAT-style function score (0-100, higher is better; proprietary, no LOINC exists), the transformed fear-avoidance score 0-100, the FABQ items and subscales (no LOINC FABQ code was found), the GAD-2 total (LOINC code unverified), the exercise stage of change (no LOINC question code found), the session count, the ETMI-delivered fidelity flag, the prognosis belief, activity preferences, the global perceived effect and the duration of the low back pain episode."
* insert LocalCodeSystem
* #function-0-100 "Function score 0-100 (higher is better)" "Patient-reported functional status 0-100 (FOTO Lumbar Computerized Adaptive Test style), HIGHER IS BETTER. Lumbar CAT: an improvement of 5 points or more is the minimal clinically important difference, 8 or more is beyond measurement error (MDC95) (Wang, Hart, Werneke, Stratford, Mioduski; confidence [B]; see docs/clinical-content.md). Never map the Oswestry Disability Index (higher = more disability) onto this code."
* #fear-avoidance-0-100 "Fear-avoidance beliefs score 0-100" "Transformed fear-avoidance beliefs score 0-100 as supplied by the source system (not a raw FABQ subscale); HIGHER = MORE FEAR-AVOIDANCE (a fall is an improvement). No threshold or MCID is claimed (the instrument is not verified)."
* #fabq-pa "FABQ physical activity subscale" "Fear-Avoidance Beliefs Questionnaire physical activity subscale: sum of items 2, 3, 4 and 5 (0-24), only when all four are answered; higher = stronger fear-avoidance beliefs."
* #fabq-w "FABQ work subscale" "Fear-Avoidance Beliefs Questionnaire work subscale: sum of items 6, 7, 9, 10, 11, 12 and 15 (0-42), only for people who work and when all seven are answered; higher = stronger fear-avoidance beliefs about work."
* #fabq-item-1 "My pain was caused by physical activity" "FABQ item 1 (physical activity; not scored), 0 = completely disagree to 6 = completely agree."
* #fabq-item-2 "Physical activity makes my pain worse" "FABQ item 2 (physical activity subscale), 0-6."
* #fabq-item-3 "Physical activity might harm my back" "FABQ item 3 (physical activity subscale), 0-6."
* #fabq-item-4 "I should not do physical activities which (might) make my pain worse" "FABQ item 4 (physical activity subscale), 0-6."
* #fabq-item-5 "I cannot do physical activities which (might) make my pain worse" "FABQ item 5 (physical activity subscale), 0-6."
* #fabq-item-6 "My pain was caused by my work or by an accident at work" "FABQ item 6 (work subscale), 0-6."
* #fabq-item-7 "My work aggravated my pain" "FABQ item 7 (work subscale), 0-6."
* #fabq-item-8 "I have a claim for compensation for my pain" "FABQ item 8 (work; not scored), 0-6."
* #fabq-item-9 "My work is too heavy for me" "FABQ item 9 (work subscale), 0-6."
* #fabq-item-10 "My work makes or would make my pain worse" "FABQ item 10 (work subscale), 0-6."
* #fabq-item-11 "My work might harm my back" "FABQ item 11 (work subscale), 0-6."
* #fabq-item-12 "I should not do my normal work with my present pain" "FABQ item 12 (work subscale), 0-6."
* #fabq-item-13 "I cannot do my normal work with my present pain" "FABQ item 13 (work; not scored), 0-6."
* #fabq-item-14 "I cannot do my normal work till my pain is treated" "FABQ item 14 (work; not scored), 0-6."
* #fabq-item-15 "I do not think that I will be back to my normal work within 3 months" "FABQ item 15 (work subscale), 0-6."
* #fabq-item-16 "I do not think that I will ever be able to go back to that work" "FABQ item 16 (work; not scored), 0-6."
* #gad2-total "GAD-2 total score" "Generalized anxiety disorder 2-item total: sum of LOINC 69725-0 and 68509-9 answers (0-6); 3 or more is a positive screen."
* #ttm-stage "Exercise stage of change" "Transtheoretical model stage of change for regular exercise (URI CPRC short form); the value is a code of the etmi-ttm-stage CodeSystem."
* #session-count "Number of sessions in the episode" "Total number of physiotherapy sessions in the ETMI episode of care (also derivable from the Procedure resources)."
* #etmi-delivered "Session delivered as ETMI" "Whether the session was delivered as ETMI-guided care (the fidelity flag, the registry's 'ETMI Code')."
* #prognosis-belief "Prognosis belief 0-10" "How likely the patient believes it is that the back will get better, 0-10, higher = more confident of recovery."
* #activity-preference "Physical activity preference" "Recreational activities the patient enjoys or would consider; the value is a code of the etmi-activity-preference CodeSystem."
* #gpe "Global perceived effect" "Global perceived effect of treatment on a 7-point scale; the value is a code of the etmi-gpe CodeSystem."
* #lbp-duration "Duration of the low back pain episode" "How long the current episode of low back pain has lasted; the value is a code of the etmi-lbp-duration CodeSystem."

CodeSystem: EtmiTtmStage
Id: etmi-ttm-stage
Title: "ETMI exercise stage of change"
Description: "Transtheoretical model stages of change for regular exercise (Prochaska/Marcus; URI Cancer Prevention Research Center short form), plus the optional relapse stage. Local because no LOINC question code was found and the SNOMED CT stage concepts are unverified. The display of each stage is the stage name, as a clinician reads it in an Observation; the exact CPRC answer sentence a patient reads (the display of the ETMI Questionnaires' answer options) is a designation."
* insert LocalCodeSystem
* #precontemplation "Precontemplation" "Not exercising regularly; no intention to start within the next 6 months."
* #precontemplation ^designation[0].value = "No, and I do NOT intend to in the next 6 months."
* #contemplation "Contemplation" "Not exercising regularly; intends to start within 6 months."
* #contemplation ^designation[0].value = "No, but I intend to in the next 6 months."
* #preparation "Preparation" "Not exercising regularly; intends to start within the next 30 days."
* #preparation ^designation[0].value = "No, but I intend to in the next 30 days."
* #action "Action" "Exercising regularly, for less than 6 months."
* #action ^designation[0].value = "Yes, I have been for LESS than 6 months."
* #maintenance "Maintenance" "Exercising regularly, for 6 months or more."
* #maintenance ^designation[0].value = "Yes, I have been for MORE than 6 months."
* #relapse "Relapse" "Was exercising regularly and has stopped (optional stage used by some instruments)."

CodeSystem: EtmiActivityPreference
Id: etmi-activity-preference
Title: "ETMI physical activity preferences"
Description: "Recreational physical activities used to tailor the ETMI activity goal. Local because brisk walking has no verified SNOMED CT concept and the LOINC answer list for exercise activity is only partly verified."
* insert LocalCodeSystem
* #walking "Walking" "Walking at any pace."
* #brisk-walking "Brisk walking" "Fast walking at moderate intensity, the activity ETMI exposes patients to."
* #swimming "Swimming" "Swimming."
* #cycling "Cycling" "Cycling, outdoor or stationary."
* #dancing "Dancing" "Dancing."
* #gym "Gym" "Exercise at a gym or fitness class."
* #other "Other" "Another activity, described in free text."

CodeSystem: EtmiIntervention
Id: etmi-intervention
Title: "ETMI intervention components"
Description: "ETMI components with no verified SNOMED CT concept: stage-matched counselling, brisk-walk exposure, goal setting, the reminder postcard, and the ETMI programme as a whole."
* insert LocalCodeSystem
* #stage-matched-counselling "Stage-matched physical activity counselling" "A discussion of physical activity matched to the patient's exercise stage of change, guided by motivational interviewing (NCT04819009). This is counselling; the staging itself is the stage-of-change Observation (SNOMED CT 710849009 Assessment of exercise behavior names the staging, not the counselling)."
* #brisk-walk-exposure "Brisk-walking exposure" "Supervised fast walking with the physiotherapist (in the corridor, hand by hand) plus graded activity."
* #goal-setting "Physical activity goal setting" "Setting or reviewing a recreational physical activity goal with the patient."
* #postcard "ETMI reminder postcard given" "The ETMI postcard with the main messages about physical activity and four simple stretches was given."
* #etmi-program "ETMI programme" "Care delivered as ETMI: reassurance, addressing unhelpful beliefs and encouraging recreational physical activity, without passive treatments or prescribed exercises."

CodeSystem: EtmiLbpDuration
Id: etmi-lbp-duration
Title: "ETMI low back pain episode duration"
Description: "Answer codes for the duration of the current low back pain episode. Local because no verified standard answer list matches these bands."
* insert LocalCodeSystem
* #lt-6wk "Less than 6 weeks" "The episode has lasted less than 6 weeks (acute)."
* #6-12wk "6 to 12 weeks" "The episode has lasted 6 to 12 weeks (subacute)."
* #gt-3mo "More than 3 months" "The episode has lasted more than 3 months (chronic low back pain)."

CodeSystem: EtmiFabqAnswer
Id: etmi-fabq-answer
Title: "ETMI FABQ answer scale"
Description: "The 0-6 agreement scale of the Fear-Avoidance Beliefs Questionnaire (Waddell et al. 1993). Local because the FABQ has no LOINC codes."
* insert LocalCodeSystem
* #0 "Completely disagree" "0: completely disagree."
* #1 "1" "1 on the 0-6 agreement scale."
* #2 "2" "2 on the 0-6 agreement scale."
* #3 "Unsure" "3: unsure."
* #4 "4" "4 on the 0-6 agreement scale."
* #5 "5" "5 on the 0-6 agreement scale."
* #6 "Completely agree" "6: completely agree."

CodeSystem: EtmiGpe
Id: etmi-gpe
Title: "ETMI global perceived effect"
Description: "A 7-point global perceived effect scale (overall, compared with before treatment, your back is...). Local because no LOINC code was verified for it."
* insert LocalCodeSystem
* #much-worse "Much worse" "Much worse than before treatment."
* #worse "Worse" "Worse than before treatment."
* #slightly-worse "Slightly worse" "Slightly worse than before treatment."
* #unchanged "Unchanged" "No change compared with before treatment."
* #slightly-better "Slightly better" "Slightly better than before treatment."
* #better "Better" "Better than before treatment."
* #much-better "Much better" "Much better than before treatment."
