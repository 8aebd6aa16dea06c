// Item building blocks of the ETMI Questionnaires (SDC observation-based extraction pattern).
// Each RuleSet is inserted at an item path: `* item[+] insert IntegerItem(...)`.

RuleSet: IntegerItem(linkId, text, min, max)
* linkId = "{linkId}"
* text = "{text}"
* type = #integer
* extension[+].url = $min-value
* extension[=].valueInteger = {min}
* extension[+].url = $max-value
* extension[=].valueInteger = {max}

RuleSet: DecimalItem(linkId, text, min, max)
* linkId = "{linkId}"
* text = "{text}"
* type = #decimal
* extension[+].url = $min-value
* extension[=].valueDecimal = {min}
* extension[+].url = $max-value
* extension[=].valueDecimal = {max}

RuleSet: Unit(code)
* extension[+].url = $q-unit
* extension[=].valueCoding = $ucum#{code} "{code}"

// The item yields an Observation with category survey (scores).
RuleSet: ExtractSurvey
* extension[+].url = $sdc-obs-extract
* extension[=].valueBoolean = true
* extension[+].url = $sdc-obs-extract-category
* extension[=].valueCodeableConcept = $obscat#survey "Survey"

// The item yields an Exercise Vital Sign Observation: categories activity and PhysicalActivity.
RuleSet: ExtractActivity
* extension[+].url = $sdc-obs-extract
* extension[=].valueBoolean = true
* extension[+].url = $sdc-obs-extract-category
* extension[=].valueCodeableConcept = $obscat#activity "Activity"
* extension[+].url = $sdc-obs-extract-category
* extension[=].valueCodeableConcept = $pa-temp#PhysicalActivity "Physical Activity"

RuleSet: Calculated(expression)
* readOnly = true
* extension[+].url = $sdc-calculated
* extension[=].valueExpression.language = #text/fhirpath
* extension[=].valueExpression.expression = "{expression}"

RuleSet: OrdinalOption(system, code, display, ordinal)
* answerOption[+].valueCoding = {system}#{code} "{display}"
* answerOption[=].valueCoding.extension[+].url = $ordinal
* answerOption[=].valueCoding.extension[=].valueDecimal = {ordinal}

RuleSet: FabqItem(linkId, n, text)
* linkId = "{linkId}"
* code = EtmiObservation#fabq-item-{n} "{text}"
* text = "{n}. {text}"
* type = #choice
* insert OrdinalOption(EtmiFabqAnswer, 0, Completely disagree, 0)
* insert OrdinalOption(EtmiFabqAnswer, 1, 1, 1)
* insert OrdinalOption(EtmiFabqAnswer, 2, 2, 2)
* insert OrdinalOption(EtmiFabqAnswer, 3, Unsure, 3)
* insert OrdinalOption(EtmiFabqAnswer, 4, 4, 4)
* insert OrdinalOption(EtmiFabqAnswer, 5, 5, 5)
* insert OrdinalOption(EtmiFabqAnswer, 6, Completely agree, 6)

// A FABQ work item (6-16): asked only of people who work (enableWhen work.employed = true).
RuleSet: FabqWorkItem(linkId, n, text)
* insert FabqItem({linkId}, {n}, {text})
* insert AskedIfEmployed

RuleSet: AskedIfEmployed
* enableWhen[+].question = "work.employed"
* enableWhen[=].operator = #=
* enableWhen[=].answerBoolean = true

RuleSet: PhqGadItem(linkId, code, text)
* linkId = "{linkId}"
* code = $loinc#{code} "{text}"
* text = "Over the last 2 weeks, how often have you been bothered by: {text}"
* type = #choice
* insert OrdinalOption($loinc, LA6568-5, Not at all, 0)
* insert OrdinalOption($loinc, LA6569-3, Several days, 1)
* insert OrdinalOption($loinc, LA6570-1, More than half the days, 2)
* insert OrdinalOption($loinc, LA6571-9, Nearly every day, 3)

// --- Items shared by the intake and outcome questionnaires -----------------------------------

RuleSet: PainItem
* item[+] insert IntegerItem(pain.nrs, [[Pain intensity now, 0 = no pain, 10 = worst imaginable pain]], 0, 10)
* item[=].code = $loinc#72514-3 "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
* item[=] insert Unit({score})
* item[=] insert ExtractSurvey

RuleSet: FunctionItem
* item[+] insert DecimalItem(function.score, [[Function score 0-100 (higher = better), from the LCAT/FOTO or clinic system]], 0, 100)
* item[=].code = EtmiObservation#function-0-100 "Function score 0-100 (higher is better)"
* item[=] insert Unit({score})
* item[=] insert ExtractSurvey

RuleSet: FabqItems
* item[+] insert FabqItem(fabq.pa1, 1, My pain was caused by physical activity)
* item[+] insert FabqItem(fabq.pa2, 2, Physical activity makes my pain worse)
* item[+] insert FabqItem(fabq.pa3, 3, Physical activity might harm my back)
* item[+] insert FabqItem(fabq.pa4, 4, I should not do physical activities which (might\) make my pain worse)
* item[+] insert FabqItem(fabq.pa5, 5, I cannot do physical activities which (might\) make my pain worse)
* item[+].linkId = "work.employed"
* item[=].text = "Are you currently working (paid work, employed or self-employed)? The work questions (6-16) are asked only if you are."
* item[=].type = #boolean
* item[+] insert FabqWorkItem(fabq.w6, 6, My pain was caused by my work or by an accident at work)
* item[+] insert FabqWorkItem(fabq.w7, 7, My work aggravated my pain)
* item[+] insert FabqWorkItem(fabq.w8, 8, I have a claim for compensation for my pain)
* item[+] insert FabqWorkItem(fabq.w9, 9, My work is too heavy for me)
* item[+] insert FabqWorkItem(fabq.w10, 10, My work makes or would make my pain worse)
* item[+] insert FabqWorkItem(fabq.w11, 11, My work might harm my back)
* item[+] insert FabqWorkItem(fabq.w12, 12, I should not do my normal work with my present pain)
* item[+] insert FabqWorkItem(fabq.w13, 13, I cannot do my normal work with my present pain)
* item[+] insert FabqWorkItem(fabq.w14, 14, I cannot do my normal work till my pain is treated)
* item[+] insert FabqWorkItem(fabq.w15, 15, I do not think that I will be back to my normal work within 3 months)
* item[+] insert FabqWorkItem(fabq.w16, 16, I do not think that I will ever be able to go back to that work)
* item[+] insert IntegerItem(fabq.pa_score, [[FABQ physical activity subscale, items 2-5 (0-24; higher = stronger fear-avoidance beliefs)]], 0, 24)
* item[=].code = EtmiObservation#fabq-pa "FABQ physical activity subscale"
* item[=] insert Unit({score})
* item[=] insert ExtractSurvey
* item[=] insert Calculated([[(%resource.repeat(item).where(linkId = 'fabq.pa2').answer.value.code.toInteger()) + (%resource.repeat(item).where(linkId = 'fabq.pa3').answer.value.code.toInteger()) + (%resource.repeat(item).where(linkId = 'fabq.pa4').answer.value.code.toInteger()) + (%resource.repeat(item).where(linkId = 'fabq.pa5').answer.value.code.toInteger())]])
* item[+] insert IntegerItem(fabq.w_score, [[FABQ work subscale, items 6, 7, 9, 10, 11, 12, 15 (0-42; higher = stronger fear-avoidance beliefs about work)]], 0, 42)
* item[=].code = EtmiObservation#fabq-w "FABQ work subscale"
* item[=] insert Unit({score})
* item[=] insert ExtractSurvey
* item[=] insert Calculated([[(%resource.repeat(item).where(linkId = 'fabq.w6').answer.value.code.toInteger()) + (%resource.repeat(item).where(linkId = 'fabq.w7').answer.value.code.toInteger()) + (%resource.repeat(item).where(linkId = 'fabq.w9').answer.value.code.toInteger()) + (%resource.repeat(item).where(linkId = 'fabq.w10').answer.value.code.toInteger()) + (%resource.repeat(item).where(linkId = 'fabq.w11').answer.value.code.toInteger()) + (%resource.repeat(item).where(linkId = 'fabq.w12').answer.value.code.toInteger()) + (%resource.repeat(item).where(linkId = 'fabq.w15').answer.value.code.toInteger())]])
* item[=] insert AskedIfEmployed
* item[+] insert DecimalItem(fab.score100, [[Fear-avoidance score 0-100, higher = more fear-avoidance (only if the source system supplies it)]], 0, 100)
* item[=].code = EtmiObservation#fear-avoidance-0-100 "Fear-avoidance beliefs score 0-100"
* item[=] insert Unit({score})
* item[=] insert ExtractSurvey

RuleSet: EvsItems
* item[+] insert IntegerItem(evs.days, [[On average, how many days per week (over the last 30 days) do you engage in moderate to strenuous exercise (like a brisk walk)?]], 0, 7)
* item[=].code = $loinc#89555-7 "How many days per week did you engage in moderate to strenuous physical activity in the last 30 days"
* item[=] insert Unit(d/wk)
* item[=] insert ExtractActivity
* item[+] insert IntegerItem(evs.minutes, [[On those days, how many minutes on average do you exercise at this level?]], 0, 600)
* item[=].code = $loinc#68516-4 "On those days that you engage in moderate to strenuous exercise, how many minutes, on average, do you exercise"
* item[=] insert Unit(min/d)
* item[=] insert ExtractActivity
* item[+] insert IntegerItem(evs.min_week, [[Minutes per week of moderate to vigorous physical activity (days x minutes)]], 0, 4200)
* item[=].code = $loinc#82290-8 "Frequency of moderate to vigorous aerobic physical activity"
* item[=] insert Unit(min/wk)
* item[=] insert ExtractActivity
* item[=] insert Calculated([[(%resource.repeat(item).where(linkId = 'evs.days').answer.value.single()) * (%resource.repeat(item).where(linkId = 'evs.minutes').answer.value.single())]])
* item[+] insert IntegerItem(evs.strength_days, [[On how many days per week do you do muscle-strengthening activity?]], 0, 7)
* item[=].code = $loinc#82291-6 "Frequency of muscle-strengthening physical activity"
* item[=] insert Unit(d/wk)
* item[=] insert ExtractActivity

RuleSet: TtmItem
* item[+].linkId = "ttm.stage"
* item[=].code = EtmiObservation#ttm-stage "Exercise stage of change"
* item[=].text = "Regular Exercise is any planned physical activity (e.g., brisk walking, aerobics, jogging, bicycling, swimming, rowing, etc.) performed to increase physical fitness. Such activity should be performed 3 to 5 times per week for 20-60 minutes per session. Exercise does not have to be painful to be effective but should be done at a level that increases your breathing rate and causes you to break a sweat. Do you exercise regularly according to that definition?"
* item[=].type = #choice
* item[=] insert ExtractSurvey
* item[=].answerOption[+].valueCoding = EtmiTtmStage#maintenance "Yes, I have been for MORE than 6 months."
* item[=].answerOption[+].valueCoding = EtmiTtmStage#action "Yes, I have been for LESS than 6 months."
* item[=].answerOption[+].valueCoding = EtmiTtmStage#preparation "No, but I intend to in the next 30 days."
* item[=].answerOption[+].valueCoding = EtmiTtmStage#contemplation "No, but I intend to in the next 6 months."
* item[=].answerOption[+].valueCoding = EtmiTtmStage#precontemplation "No, and I do NOT intend to in the next 6 months."
