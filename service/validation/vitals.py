"""R4's vital-signs rule: an Observation with a vital-sign code SHALL conform to its vital-signs profile.

R4 (observation-vitalsigns.html, "Vital Signs"): "If implementations use this Observation.code (for
the specific LOINC code), then they SHALL conform to the profile", whatever ``meta.profile`` says. The
profiles (vitalspanel, resprate, heartrate, oxygensat, bodytemp, bodyheight, headcircum, bodyweight,
bmi, bp) are in the R4 core definitions (``profiles-others.json``).

Which codes select which profile: the table the HL7 Java validator applies to R4 content
(``org.hl7.fhir.validation.instance.type.ObservationValidator``, validator 6.x): the LOINC codes of
the R4 table plus their method/site-specific variants, and the SNOMED CT equivalents. The first row
whose codes appear in ``Observation.code.coding`` wins (LOINC rows before SNOMED CT rows), as there.
Left out of the HL7 table: its SNOMED CT respiratory-rate row (it names no profile URL, so it selects
nothing there), and from its SNOMED CT body-weight row 60621009 (body mass index, which the BMI row
names) and 363811000 (head circumference, which the earlier head-circumference row already takes).
"""

from __future__ import annotations

from typing import Any

from service.validation.compiler import CORE

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

#: (system, profile id, codes), in the order they are tried.
VITAL_SIGNS: tuple[tuple[str, str, frozenset[str]], ...] = tuple(
    (system, profile, frozenset(codes.split()))
    for system, profile, codes in (
        (LOINC, "vitalspanel", "85353-1"),
        (LOINC, "resprate", "9279-1 76170-0 76172-6 76171-8 19840-8 33438-3 76270-8 11291-2"),
        (
            LOINC,
            "heartrate",
            "60978-4 73795-7 73799-9 76476-1 76477-9 8867-4 8889-8 8890-6 8891-4 8892-2 8893-0 40443-4 "
            "55425-3 68999-2 11328-2 69000-8 8886-4",
        ),
        (
            LOINC,
            "oxygensat",
            "2708-6 19224-5 20564-1 2709-4 2710-2 2711-0 2713-6 51733-4 59408-5 59417-6 89276-0 97549-0",
        ),
        (
            LOINC,
            "bodytemp",
            "8310-5 60834-9 60835-6 60836-4 60838-0 60955-2 61009-7 75539-7 75987-8 76010-8 76011-6 76278-1 "
            "8309-7 8328-7 8329-5 8330-3 8331-1 8332-9 8333-7 8334-5 91371-5 98657-0 98663-8",
        ),
        (LOINC, "bodyheight", "8302-2 3137-7 3138-5 8306-3 8308-9"),
        (LOINC, "headcircum", "9843-4 8287-5"),
        (LOINC, "bodyweight", "29463-7 3141-9 3142-7 75292-3 79348-9 8350-1 8351-9"),
        (LOINC, "bmi", "39156-5 59574-4 89270-3"),
        (LOINC, "bp", "85354-9 35094-2 8459-0 76534-7 55284-4 8480-6"),
        (SNOMED, "vitalspanel", "46680005"),
        (SNOMED, "heartrate", "271306003 249043002 444981005 399017001 251670001 429525003 429614003"),
        (SNOMED, "oxygensat", "103228002 442349007 442476006 442440005 431314004 442734002 713194001"),
        (
            SNOMED,
            "bodytemp",
            "386725007 276885007 300076005 1222808002 364246006 307047009 708499008 431598003 698831002 "
            "698832009 415882003 415974002 415929009 415945006",
        ),
        (SNOMED, "bodyheight", "1153637007 1162419008 50373000 1162418000 1230278008 1162392001 1162417005"),
        (SNOMED, "headcircum", "363812007 169876006 1269262007 363811000"),
        (SNOMED, "bodyweight", "735395000 425024002 424927000 784399000 1162416001 1162415002"),
        (SNOMED, "bmi", "60621009"),
        (
            SNOMED,
            "bp",
            "75367002 251076008 163033001 163035008 386534000 386536003 271649006 271650006 407556006 "
            "407554009 716579001 399304008",
        ),
    )
)


#: (system, code) → (row, profile URL): the first row naming a code, for one lookup per coding.
_BY_CODE: dict[tuple[str, str], tuple[int, str]] = {}
for _row, (_system, _profile, _codes) in enumerate(VITAL_SIGNS):
    for _code in _codes:
        _BY_CODE.setdefault((_system, _code), (_row, CORE + _profile))


def vital_signs_profile(observation: dict[str, Any]) -> str | None:
    """The URL of the R4 vital-signs profile an Observation's code obliges it to meet, or None."""
    code = observation.get("code")
    codings = code.get("coding") if isinstance(code, dict) else None
    if not isinstance(codings, list):
        return None
    best: tuple[int, str] | None = None
    for coding in codings:
        if isinstance(coding, dict):
            system, value = coding.get("system"), coding.get("code")
            found = _BY_CODE.get((system, value)) if isinstance(system, str) and isinstance(value, str) else None
            if found is not None and (best is None or found[0] < best[0]):
                best = found
    return best[1] if best else None
