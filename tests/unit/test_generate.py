"""``etmi-fhir generate``: deterministic, and shaped by the figures of docs/synthetic-cohort.md."""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections import Counter
from functools import cache
from typing import Any

import orjson
import pytest

from service.commands.cohort import arm_of, clinic_of, cohort_episode
from service.synthetic import regular

GENERATE = [sys.executable, "-m", "service.cli", "generate"]


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*GENERATE, *args], capture_output=True, timeout=120, check=False)


def test_same_seed_same_bytes_other_seed_other_cohort() -> None:
    first, second, other = run("--patients", "40", "--seed", "11"), run("--patients", "40", "--seed", "11"), \
        run("--patients", "40", "--seed", "12")
    assert first.returncode == second.returncode == other.returncode == 0
    assert first.stdout == second.stdout
    assert len(first.stdout.splitlines()) == 40
    assert first.stdout != other.stdout


def test_out_file_equals_stdout(tmp_path: Any) -> None:
    target = tmp_path / "cohort.ndjson"
    written = run("--patients", "10", "--seed", "3", "--out", str(target))
    assert written.returncode == 0, written.stderr
    assert target.read_bytes() == run("--patients", "10", "--seed", "3").stdout
    assert b"10/10 patients written (100%)" in written.stderr


@pytest.mark.parametrize("count", ["9", "100001", "ten"])
def test_cohort_size_is_bounded(count: str) -> None:
    result = run("--patients", count)
    assert result.returncode == 2
    assert b"--patients" in result.stderr


@cache
def cohort() -> tuple[dict[str, Any], ...]:
    return tuple(cohort_episode(i, 4193) for i in range(3000))


def answers(payload: dict[str, Any], questionnaire: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r["answers"] for r in payload["responses"] if r["questionnaire"] == questionnaire)
    return found


def change(group: list[dict[str, Any]], key: str) -> float:
    pairs = [(answers(p, "intake"), answers(p, "outcome")) for p in group]
    return statistics.mean(float(b[key]) - float(a[key]) for a, b in pairs if key in a and key in b)


def test_thirteen_clinics_and_seventeen_percent_etmi() -> None:
    episodes = cohort()
    clinics = Counter(clinic_of(p) for p in episodes)
    assert sorted(clinics) == list(range(1, 14))
    assert min(clinics.values()) > len(episodes) / 13 * 0.7
    share = sum(arm_of(p) == "etmi" for p in episodes) / len(episodes)
    assert 0.15 <= share <= 0.19  # 711 of 4193 (17.0%)
    assert len({p["patient"]["value"] for p in episodes}) == len({p["episode_id"] for p in episodes}) == len(episodes)


def test_etmi_has_fewer_sessions_than_usual_care() -> None:
    arms: dict[str, list[int]] = {"etmi": [], "usual-care": []}
    for p in cohort():
        arms[arm_of(p)].append(len(p["sessions"]))
    assert set(arms["etmi"]) <= {2, 3, 4}
    assert 2.6 <= statistics.mean(arms["etmi"]) <= 3.5  # 2.6 +/- 0.6 (2022); 3.5 (2017)
    assert 3.7 <= statistics.mean(arms["usual-care"]) <= 5.1  # 4.1 +/- 1.5 estimated; 5.1 (2017)
    assert 1.1 <= statistics.stdev(arms["usual-care"]) <= 1.8
    assert min(arms["usual-care"]) >= 2


def test_etmi_improves_function_and_fear_avoidance_more_pain_alike() -> None:
    etmi = [p for p in cohort() if arm_of(p) == "etmi"]
    usual = [p for p in cohort() if arm_of(p) == "usual-care"]
    assert change(etmi, "function.score") > change(usual, "function.score") + 2 > 2  # both improve
    assert change(etmi, "fabq.pa4") < change(usual, "fabq.pa4") < 0
    fab = {arm: statistics.mean(p["scores"][1]["value"] - p["scores"][0]["value"] for p in group)
           for arm, group in (("etmi", etmi), ("usual", usual))}
    assert fab["etmi"] < fab["usual"] < 0
    assert abs(change(etmi, "pain.nrs") - change(usual, "pain.nrs")) < 0.5  # no pain advantage claimed
    assert change(usual, "pain.nrs") < -1


def test_goals_and_stages_follow_activity() -> None:
    for p in cohort():
        after = answers(p, "outcome")
        minutes = after["evs.days"] * after["evs.minutes"]
        if arm_of(p) == "usual-care":
            assert p["goals"] == [] and "goal.achieved" not in after
            assert all(not s["etmi_delivered"] and "goal-setting" not in s["components"] for s in p["sessions"])
        elif after.get("goal.achieved") == "achieved":
            targets = [r["answers"]["session.goal_minutes_week"] for r in p["responses"]
                       if "session.goal_minutes_week" in r["answers"]] or [p["goals"][0]["target_minutes_per_week"]]
            assert minutes >= targets[-1]
        assert (after["ttm.stage"] in ("action", "maintenance")) == regular(after["evs.days"], after["evs.minutes"])


def test_comorbidity_and_missing_answers_in_a_realistic_share() -> None:
    intakes = [answers(p, "intake") for p in cohort()]
    depressed = sum("35489007" in a.get("comorb.dx", []) for a in intakes) / len(intakes)
    assert 0.12 <= depressed <= 0.18
    missing = sum("function.score" not in a for a in intakes) / len(intakes)
    assert 0.02 <= missing <= 0.06


def test_every_line_is_one_payload_the_mapping_accepts() -> None:
    from mappings.bundle import episode_to_bundle
    from mappings.payload import episode_from_json
    from mappings.refs import TEST_CONTEXT
    from service.ig import DEFAULT_PACKAGE_DIR, load_package

    questionnaires = load_package(DEFAULT_PACKAGE_DIR).questionnaires()
    for line in run("--patients", "60", "--seed", "5").stdout.splitlines():
        bundle = episode_to_bundle(episode_from_json(orjson.loads(line)), questionnaires, TEST_CONTEXT)
        assert bundle["type"] == "transaction"
