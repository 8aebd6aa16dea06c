"""Outcome scores <-> Observation, and the table of every ETMI observation kind.

``OBSERVATION_KINDS`` is the single source of truth for codes, units, ranges and profiles of the
outcome Observations; questionnaire extraction looks kinds up by code. Code provenance:
LOINC 72514-3 [A] (VSAC pain assessment), 89555-7 / 68516-4 / 82290-8 / 82291-6 [A] (HL7 Physical
Activity IG), 55758-7 [B]; everything else is a code of the project's ``etmi-observation``
CodeSystem because no verified standard code exists (see ``docs/clinical-content.md``).
Polarity: function 0-100 is HIGHER = BETTER; never map a disability index (ODI: higher = worse) to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mappings import canonical as c
from mappings import refs
from mappings.domain import Episode, OutcomeScore
from mappings.errors import Issue, MappingError

SURVEY = refs.concept(c.OBSERVATION_CATEGORY, "survey", "Survey")
ACTIVITY = refs.concept(c.OBSERVATION_CATEGORY, "activity", "Activity")
PHYSICAL_ACTIVITY = refs.concept(c.PA_TEMPORARY_CODES, "PhysicalActivity", "Physical Activity")


@dataclass(frozen=True)
class ObservationKind:
    """One kind of ETMI outcome Observation. ``unit`` None means a coded value (stage of change)."""

    key: str
    system: str
    code: str
    display: str
    profile: str
    unit: str | None
    low: float = 0
    high: float = 0
    integer: bool = True
    physical_activity: bool = False

    def categories(self) -> list[dict[str, Any]]:
        return [ACTIVITY, PHYSICAL_ACTIVITY] if self.physical_activity else [SURVEY]


_L, _E = c.LOINC, c.ETMI_CS_OBSERVATION
_KINDS = (
    ObservationKind("pain", _L, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
                    c.ETMI_SD_OBS_PAIN, "{score}", 0, 10),
    ObservationKind("function", _E, c.OBS_FUNCTION, "Function score 0-100 (higher is better)",
                    c.ETMI_SD_OBS_FUNCTION, "{score}", 0, 100, integer=False),
    ObservationKind("fear-avoidance", _E, c.OBS_FEAR_AVOIDANCE, "Fear-avoidance beliefs score 0-100",
                    c.ETMI_SD_OBS_FEAR_AVOIDANCE, "{score}", 0, 100, integer=False),
    ObservationKind("fabq-pa", _E, c.OBS_FABQ_PA, "FABQ physical activity subscale",
                    c.ETMI_SD_OBS_FABQ_PA, "{score}", 0, 24),
    ObservationKind("fabq-w", _E, c.OBS_FABQ_W, "FABQ work subscale", c.ETMI_SD_OBS_FABQ_W, "{score}", 0, 42),
    ObservationKind("evs-days", _L, "89555-7", "How many days per week did you engage in moderate to "
                    "strenuous physical activity in the last 30 days", c.ETMI_SD_OBS_EVS_DAYS, "d/wk", 0, 7,
                    physical_activity=True),
    ObservationKind("evs-min-per-day", _L, "68516-4", "On those days that you engage in moderate to strenuous "
                    "exercise, how many minutes, on average, do you exercise", c.ETMI_SD_OBS_EVS_MIN_PER_DAY,
                    "min/d", 0, 600, physical_activity=True),
    ObservationKind("evs-min-per-week", _L, "82290-8", "Frequency of moderate to vigorous aerobic physical "
                    "activity", c.ETMI_SD_OBS_EVS_MIN_PER_WEEK, "min/wk", 0, 4200, physical_activity=True),
    ObservationKind("strength-days", _L, "82291-6", "Frequency of muscle-strengthening physical activity",
                    c.ETMI_SD_OBS_STRENGTH_DAYS, "d/wk", 0, 7, physical_activity=True),
    ObservationKind("ttm-stage", _E, c.OBS_TTM_STAGE, "Exercise stage of change", c.ETMI_SD_OBS_STAGE, None),
    ObservationKind("phq2", _L, "55758-7", "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]",
                    c.ETMI_SD_OBS_PHQ2, "{score}", 0, 6),
    ObservationKind("gad2", _E, c.OBS_GAD2_TOTAL, "GAD-2 total score", c.ETMI_SD_OBS_GAD2, "{score}", 0, 6),
)
OBSERVATION_KINDS: dict[str, ObservationKind] = {k.key: k for k in _KINDS}
KIND_BY_CODE: dict[tuple[str, str], ObservationKind] = {(k.system, k.code): k for k in _KINDS}

#: Displays of etmi-ttm-stage in every Observation: the stage names. The URI CPRC answer sentences a
#: patient reads are the CodeSystem's designations and the Questionnaire's answer-option displays.
TTM_STAGE_DISPLAY: dict[str, str] = dict(c.TTM_STAGE_NAMES)


def quantity(value: int | float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": c.UCUM, "code": unit}


def check_value(kind: ObservationKind, value: object, path: str) -> list[Issue]:
    """Range, type and polarity rules of one observation kind; empty when the value is acceptable."""
    if kind.unit is None:
        if value not in c.TTM_STAGES:
            return [Issue("error", "code-invalid", f"stage of change must be one of {', '.join(c.TTM_STAGES)}",
                          path)]
        return []
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [Issue("error", "value", f"{kind.key} must be a number", path)]
    if kind.integer and not float(value).is_integer():
        return [Issue("error", "value", f"{kind.key} must be a whole number", path)]
    if not kind.low <= value <= kind.high:
        return [Issue("error", "value", f"{kind.key} must be between {kind.low:g} and {kind.high:g} "
                      f"({kind.unit}); got {value}", path)]
    return []


def observation_value(kind: ObservationKind, value: int | float | str) -> dict[str, Any]:
    if kind.unit is None:
        return {"valueCodeableConcept": refs.concept(c.ETMI_CS_TTM_STAGE, str(value), TTM_STAGE_DISPLAY[str(value)])}
    assert not isinstance(value, str)
    return {"valueQuantity": quantity(value, kind.unit)}


def with_stage_name(obs: dict[str, Any]) -> dict[str, Any]:
    """``obs`` with each etmi-ttm-stage value coding displayed as the stage name (a new dict when changed).

    Observation-based extraction copies the answer's coding, whose display is the patient-facing
    sentence of the Questionnaire's answer option; a clinician reads the stage name.
    """
    value = obs.get("valueCodeableConcept")
    if not isinstance(value, dict):
        return obs
    codings = [{**cd, "display": TTM_STAGE_DISPLAY[cd["code"]]}
               if cd.get("system") == c.ETMI_CS_TTM_STAGE and cd.get("code") in TTM_STAGE_DISPLAY else cd
               for cd in value.get("coding", [])]
    return {**obs, "valueCodeableConcept": {**value, "coding": codings}}


def score_to_observation(score: OutcomeScore, episode: Episode) -> dict[str, Any]:
    """An outcome score recorded outside a questionnaire -> its profiled Observation."""
    kind = OBSERVATION_KINDS.get(score.kind)
    if kind is None:
        raise MappingError([Issue("error", "code-invalid", f"unknown score kind {score.kind!r}; known: "
                                  f"{', '.join(OBSERVATION_KINDS)}", "score.kind")])
    issues = check_value(kind, score.value, "score.value")
    if issues:
        raise MappingError(issues)
    ident = refs.identifier(episode.episode_id, "score", score.score_id)
    obs = refs.base_resource("Observation", ident, kind.profile)
    obs.update({
        "status": "final",
        "category": kind.categories(),
        "code": refs.concept(kind.system, kind.code, kind.display),
        "subject": refs.patient_reference(episode.patient),
        "effectiveDateTime": score.effective,
        **observation_value(kind, score.value),
    })
    return obs


def observation_to_score(obs: dict[str, Any]) -> OutcomeScore:
    """An ETMI outcome Observation (as an EHR returns it) -> the score it records."""
    kind = next((KIND_BY_CODE[(cd.get("system"), cd.get("code"))] for cd in obs.get("code", {}).get("coding", [])
                 if (cd.get("system"), cd.get("code")) in KIND_BY_CODE), None)
    if kind is None:
        raise MappingError([Issue("error", "code-invalid", "not an ETMI outcome code", "Observation.code")])
    if kind.unit is None:
        value: int | float | str = obs["valueCodeableConcept"]["coding"][0]["code"]
    else:
        qty = obs.get("valueQuantity", {})
        if qty.get("code") != kind.unit or qty.get("system") != c.UCUM:
            raise MappingError([Issue("error", "code-invalid", f"unit must be UCUM {kind.unit}",
                                      "Observation.valueQuantity")])
        value = qty["value"]
    parts = refs.local_part(obs, "score")
    return OutcomeScore(score_id=parts[1] if parts else obs.get("id", ""), kind=kind.key, value=value,
                        effective=obs["effectiveDateTime"])
