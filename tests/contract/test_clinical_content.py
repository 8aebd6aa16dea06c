"""docs/clinical-content.md, the project's own clinical reference, agrees with what the project ships.

The scoring table is the rule set of ``mappings.scoring``; every LOINC code an outcome kind uses is in
the document's LOINC table tagged [A] or [B]; the directions and thresholds a clinician reads in the
Observation profiles and the etmi-observation CodeSystem are the document's; and nothing in the
repository reads a reference from outside it (a folder beside the checkout).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mappings import canonical as c
from mappings.outcome import OBSERVATION_KINDS
from mappings.scoring import RULES
from tests.contract.ig import artifacts

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "clinical-content.md"


def section(title: str) -> list[list[str]]:
    """The table rows (cells) under a ``## title`` heading, up to the next ``## `` heading."""
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("|") and not line.startswith("|---")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def links(cell: str) -> tuple[str, ...]:
    return tuple(re.findall(r"`([a-z0-9_.]+)`", cell))


def test_scoring_table_is_the_rule_set_of_the_mappings() -> None:
    table = {links(row[0])[0]: (row[1], links(row[2])) for row in section("Scoring rules")}
    assert table == RULES


def test_every_loinc_code_of_an_outcome_kind_is_documented_as_verified() -> None:
    rows = [row for row in section("Codes") if row]
    for kind in OBSERVATION_KINDS.values():
        if kind.system != c.LOINC:
            continue
        [row] = [r for r in rows if r[0] == kind.code]
        assert row[1] == kind.display and row[3] in ("[A]", "[B]"), kind.key


def profile_description(key: str) -> str:
    url = OBSERVATION_KINDS[key].profile
    [sd] = [a for a in artifacts() if a.get("url") == url]
    return str(sd["description"])


@pytest.mark.parametrize("key,phrase", [
    ("function", "HIGHER IS BETTER"),
    ("function", "5 points or more is the minimal clinically important difference"),
    ("function", "8 points or more is beyond measurement error"),
    ("fear-avoidance", "HIGHER = MORE FEAR-AVOIDANCE"),
    ("fabq-pa", "HIGHER = STRONGER FEAR-AVOIDANCE BELIEFS"),
    ("fabq-w", "HIGHER = STRONGER FEAR-AVOIDANCE BELIEFS"),
    ("phq2", "3 or more is a positive depression screen"),
    ("gad2", "3 or more is a positive anxiety screen"),
    ("pain", "higher = worse"),
])
def test_profiles_state_directions_and_thresholds(key: str, phrase: str) -> None:
    assert phrase in profile_description(key)


def test_directions_and_thresholds_table_matches_the_profiles() -> None:
    rows = {row[0]: row for row in section("Directions and thresholds")}
    assert "higher = better" in rows["Function"][2] and "5 points or more" in rows["Function"][3]
    assert "8 points or more" in rows["Function"][3] and "[B]" in rows["Function"][4]
    assert "higher = more fear-avoidance" in rows["Fear-avoidance"][2]
    assert "3 or more" in rows["PHQ-2"][3] and "3 or more" in rows["GAD-2"][3]


def test_the_code_system_states_the_directions() -> None:
    [cs] = [a for a in artifacts() if a.get("url") == c.ETMI_CS_OBSERVATION]
    definitions = {concept["code"]: concept["definition"] for concept in cs["concept"]}
    assert "HIGHER = MORE FEAR-AVOIDANCE" in definitions["fear-avoidance-0-100"]
    assert "HIGHER IS BETTER" in definitions["function-0-100"]
    assert "minimal clinically important difference" in definitions["function-0-100"]


def test_nothing_reads_a_reference_outside_the_repository() -> None:
    """The suite must pass in a clone with nothing beside it (an older test read a folder beside the checkout)."""
    outside = re.compile(r"""["']\.\./shared|/ *["']shared["']|ROOT\.parent\b""")
    found = [f"{path.relative_to(ROOT)}:{n}" for folder in ("mappings", "service", "tests", "scripts")
             for path in (ROOT / folder).rglob("*") if path.is_file() and path.suffix in ("", ".py", ".sh")
             for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if outside.search(line) and path.name != Path(__file__).name]
    assert found == []
