// The three ETMI Questionnaires (docs/clinical-content.md). Items are kept flat, so a
// QuestionnaireResponse lists its answers by linkId without groups. A calculated total is empty
// unless every one of its items is answered (a missing item is unknown, not 0).

RuleSet: EtmiQuestionnaireMeta(name, title)
* version = "1.0.0"
* name = "{name}"
* title = "{title}"
* status = #active
* experimental = false
* subjectType = #Patient
* publisher = "ETMI FHIR project"

Instance: etmi-intake
InstanceOf: EtmiQuestionnaire
Usage: #definition
Title: "ETMI intake"
Description: "ETMI baseline questionnaire, before or at the first session."
* insert EtmiQuestionnaireMeta(EtmiIntake, ETMI intake (baseline\))
* description = "ETMI baseline: pain, function, fear-avoidance beliefs (FABQ; the work items only for people who work), Exercise Vital Sign, exercise stage of change, activity preferences, prognosis belief, PHQ-2 and GAD-2 screens, and the duration of the back pain episode."
* item[+].linkId = "lbp.duration"
* item[=].code = EtmiObservation#lbp-duration "Duration of the low back pain episode"
* item[=].text = "How long have you had this episode of low back pain?"
* item[=].type = #choice
* item[=].answerOption[+].valueCoding = EtmiLbpDuration#lt-6wk "Less than 6 weeks"
* item[=].answerOption[+].valueCoding = EtmiLbpDuration#6-12wk "6 to 12 weeks"
* item[=].answerOption[+].valueCoding = EtmiLbpDuration#gt-3mo "More than 3 months"
* insert PainItem
* insert FunctionItem
* insert FabqItems
* insert EvsItems
* insert TtmItem
* item[+].linkId = "pa.preferences"
* item[=].code = EtmiObservation#activity-preference "Physical activity preference"
* item[=].text = "Which activities do you enjoy or would you consider?"
* item[=].type = #open-choice
* item[=].repeats = true
* item[=].answerOption[+].valueCoding = EtmiActivityPreference#walking "Walking"
* item[=].answerOption[+].valueCoding = EtmiActivityPreference#brisk-walking "Brisk walking"
* item[=].answerOption[+].valueCoding = EtmiActivityPreference#swimming "Swimming"
* item[=].answerOption[+].valueCoding = EtmiActivityPreference#cycling "Cycling"
* item[=].answerOption[+].valueCoding = EtmiActivityPreference#dancing "Dancing"
* item[=].answerOption[+].valueCoding = EtmiActivityPreference#gym "Gym"
* item[=].answerOption[+].valueCoding = EtmiActivityPreference#other "Other"
* item[+] insert IntegerItem(beliefs.prognosis, [[How likely is it that your back will get better? 0 = not at all likely, 10 = certain]], 0, 10)
* item[=].code = EtmiObservation#prognosis-belief "Prognosis belief 0-10"
* item[+] insert PhqGadItem(phq2.q1, 44250-9, Little interest or pleasure in doing things)
* item[+] insert PhqGadItem(phq2.q2, 44255-8, [[Feeling down, depressed, or hopeless]])
* item[+] insert IntegerItem(phq2.total, [[PHQ-2 total score (0-6; 3 or more = positive depression screen)]], 0, 6)
* item[=].code = $loinc#55758-7 "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]"
* item[=] insert Unit({score})
* item[=] insert ExtractSurvey
* item[=] insert Calculated([[(%resource.repeat(item).where(linkId = 'phq2.q1').answer.value.select(iif(code = 'LA6568-5', 0, iif(code = 'LA6569-3', 1, iif(code = 'LA6570-1', 2, iif(code = 'LA6571-9', 3)))))) + (%resource.repeat(item).where(linkId = 'phq2.q2').answer.value.select(iif(code = 'LA6568-5', 0, iif(code = 'LA6569-3', 1, iif(code = 'LA6570-1', 2, iif(code = 'LA6571-9', 3))))))]])
* item[+] insert PhqGadItem(gad2.q1, 69725-0, [[Feeling nervous, anxious or on edge]])
* item[+] insert PhqGadItem(gad2.q2, 68509-9, [[Not being able to stop or control worrying]])
* item[+] insert IntegerItem(gad2.total, [[GAD-2 total score (0-6; 3 or more = positive anxiety screen)]], 0, 6)
* item[=].code = EtmiObservation#gad2-total "GAD-2 total score"
* item[=] insert Unit({score})
* item[=] insert ExtractSurvey
* item[=] insert Calculated([[(%resource.repeat(item).where(linkId = 'gad2.q1').answer.value.select(iif(code = 'LA6568-5', 0, iif(code = 'LA6569-3', 1, iif(code = 'LA6570-1', 2, iif(code = 'LA6571-9', 3)))))) + (%resource.repeat(item).where(linkId = 'gad2.q2').answer.value.select(iif(code = 'LA6568-5', 0, iif(code = 'LA6569-3', 1, iif(code = 'LA6570-1', 2, iif(code = 'LA6571-9', 3))))))]])
* item[+].linkId = "comorb.dx"
* item[=].text = "Known diagnosis of depression or anxiety (clinician-entered or pre-populated from Condition)"
* item[=].type = #open-choice
* item[=].repeats = true
* item[=].answerOption[+].valueCoding = $sct#35489007 "Depressive disorder (disorder)"
* item[=].answerOption[+].valueCoding = $sct#197480006 "Anxiety disorder (disorder)"

Instance: etmi-session
InstanceOf: EtmiQuestionnaire
Usage: #definition
Title: "ETMI session log"
Description: "Per-session log completed by the physiotherapist."
* insert EtmiQuestionnaireMeta(EtmiSession, ETMI session log)
* description = "Per-session log completed by the physiotherapist: session number, ETMI fidelity, components delivered, supervised brisk-walk minutes, pain now and the agreed weekly activity target."
* item[+].linkId = "session.number"
* item[=].text = "Session number in this episode"
* item[=].type = #integer
* item[=].extension[+].url = $min-value
* item[=].extension[=].valueInteger = 1
* item[+].linkId = "session.etmi_delivered"
* item[=].code = EtmiObservation#etmi-delivered "Session delivered as ETMI"
* item[=].text = "Delivered as ETMI (fidelity)"
* item[=].type = #boolean
* item[+].linkId = "session.components"
* item[=].text = "Components delivered"
* item[=].type = #choice
* item[=].repeats = true
* item[=].answerOption[+].valueCoding = $sct#304558001 "Reassuring about exercise (procedure)"
* item[=].answerOption[+].valueCoding = $sct#435551000124105 "Counseling about physical activity (procedure)"
* item[=].answerOption[+].valueCoding = EtmiIntervention#stage-matched-counselling "Stage-matched physical activity counselling"
* item[=].answerOption[+].valueCoding = EtmiIntervention#brisk-walk-exposure "Brisk-walking exposure"
* item[=].answerOption[+].valueCoding = EtmiIntervention#goal-setting "Physical activity goal setting"
* item[=].answerOption[+].valueCoding = EtmiIntervention#postcard "ETMI reminder postcard given"
* item[+].linkId = "session.walk_minutes"
* item[=].code = $loinc#55411-3 "Exercise duration"
* item[=].text = "Supervised brisk-walk duration (minutes)"
* item[=].type = #integer
* item[=] insert Unit(min)
* item[=].extension[+].url = $min-value
* item[=].extension[=].valueInteger = 0
* item[+] insert IntegerItem(session.pain_nrs, [[Pain now, 0 = no pain, 10 = worst imaginable pain]], 0, 10)
* item[=].code = $loinc#72514-3 "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
* item[=] insert Unit({score})
* item[=] insert ExtractSurvey
* item[+] insert IntegerItem(session.goal_minutes_week, [[Agreed weekly activity target (minutes per week)]], 0, 4200)
* item[=] insert Unit(min/wk)

Instance: etmi-outcome
InstanceOf: EtmiQuestionnaire
Usage: #definition
Title: "ETMI outcome"
Description: "ETMI discharge or follow-up questionnaire."
* insert EtmiQuestionnaireMeta(EtmiOutcome, ETMI outcome (discharge or follow-up\))
* description = "ETMI discharge (last session) or 3-12 month follow-up: the baseline outcome measures again, plus global perceived effect, goal achievement and the episode's session count."
* insert PainItem
* insert FunctionItem
* insert FabqItems
* insert EvsItems
* insert TtmItem
* item[+].linkId = "gpe"
* item[=].code = EtmiObservation#gpe "Global perceived effect"
* item[=].text = "Overall, compared with before treatment, your back is..."
* item[=].type = #choice
* item[=].answerOption[+].valueCoding = EtmiGpe#much-worse "Much worse"
* item[=].answerOption[+].valueCoding = EtmiGpe#worse "Worse"
* item[=].answerOption[+].valueCoding = EtmiGpe#slightly-worse "Slightly worse"
* item[=].answerOption[+].valueCoding = EtmiGpe#unchanged "Unchanged"
* item[=].answerOption[+].valueCoding = EtmiGpe#slightly-better "Slightly better"
* item[=].answerOption[+].valueCoding = EtmiGpe#better "Better"
* item[=].answerOption[+].valueCoding = EtmiGpe#much-better "Much better"
* item[+].linkId = "goal.achieved"
* item[=].text = "Did you reach your activity goal?"
* item[=].type = #choice
* item[=].answerOption[+].valueCoding = $goal-achievement#achieved "Achieved"
* item[=].answerOption[+].valueCoding = $goal-achievement#not-achieved "Not Achieved"
* item[=].answerOption[+].valueCoding = $goal-achievement#in-progress "In Progress"
* item[+].linkId = "episode.sessions_total"
* item[=].code = EtmiObservation#session-count "Number of sessions in the episode"
* item[=].text = "Total sessions in the episode (system-computed)"
* item[=].type = #integer
* item[=].readOnly = true
