"""What the dashboard knows about each ETMI measure: its code, range, direction and threshold.

Thresholds come from docs/clinical-content.md ("Directions and thresholds"); a measure there with
"none claimed" gets no verdict here either, only its change.
"""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
ETMI_OBS = "http://etmi.example.org/fhir/CodeSystem/etmi-observation"
CLINICAL_DOC = "docs/clinical-content.md, Directions and thresholds"


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    system: str
    code: str
    low: float
    high: float
    higher_is_better: bool
    mcid: float | None  # minimal clinically important difference, None: none claimed
    source: str


FUNCTION = Measure("function", "Function", ETMI_OBS, "function-0-100", 0, 100, True, 5.0,
                   "MCID: an improvement of 5 points or more (Wang, lumbar CAT; "
                   + CLINICAL_DOC + "). The same 5 points are used for a decline.")
PAIN = Measure("pain", "Pain (NRS)", LOINC, "72514-3", 0, 10, False, None,
               "No minimal clinically important difference is claimed in " + CLINICAL_DOC + ".")
FEAR = Measure("fear", "Fear-avoidance", ETMI_OBS, "fear-avoidance-0-100", 0, 100, False, None,
               "No minimal clinically important difference is claimed (instrument unverified) in "
               + CLINICAL_DOC + ".")
TRENDS = (FUNCTION, PAIN, FEAR)

ACTIVITY = (LOINC, "82290-8")  # EVS minutes per week; also the Goal target's measure
STAGE = (ETMI_OBS, "ttm-stage")
PHQ2 = (LOINC, "55758-7")
GAD2 = (ETMI_OBS, "gad2-total")
SCREEN_CUTOFF = 3  # PHQ-2 and GAD-2: 3 or more is a positive screen (docs/clinical-content.md)
ETMI_PROGRAM = ("http://etmi.example.org/fhir/CodeSystem/etmi-intervention", "etmi-program")
TYPICAL_SESSIONS = (2, 4)
STAGES = ("precontemplation", "contemplation", "preparation", "action", "maintenance")


def verdict(measure: Measure, first: float, last: float) -> str:
    """``improved`` / ``no meaningful change`` / ``worse``; ``no threshold`` when none is claimed."""
    if measure.mcid is None:
        return "no threshold"
    change = last - first if measure.higher_is_better else first - last
    if change >= measure.mcid:
        return "improved"
    if change <= -measure.mcid:
        return "worse"
    return "no meaningful change"
