"""The episode payload: the parser reports every problem at once, each with its path in the payload, and
the mapping refuses totals its items do not give and answers to items that are not asked, by path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mappings.bundle import episode_resources
from mappings.errors import MappingError
from mappings.payload import episode_from_json
from service.ig import load_package

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "episode.json"


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return data


def test_example_parses() -> None:
    episode = episode_from_json(example())
    assert (episode.episode_id, len(episode.sessions), len(episode.responses)) == ("EP-2026-0001", 3, 3)
    assert dict(episode.responses[0].answers)["pa.preferences"] == ("walking", "swimming")


def issues_of(data: Any) -> dict[str, str]:
    with pytest.raises(MappingError) as err:
        episode_from_json(data)
    return {i.expression: i.code for i in err.value.issues}


@pytest.mark.parametrize("mutate,path,code", [
    (lambda d: d.pop("episode_id"), "episode_id", "required"),
    (lambda d: d.update(start="2026-13-01"), "start", "value"),
    (lambda d: d["sessions"][1].update(performed="2026-01-19T09:30:00"), "sessions[1].performed", "value"),
    (lambda d: d["sessions"][0].update(number="1"), "sessions[0].number", "structure"),
    (lambda d: d["sessions"][2].update(number=1), "sessions[2]", "duplicate"),
    (lambda d: d["sessions"][0]["components"].append("massage"), "sessions[0].components[6]", "code-invalid"),
    (lambda d: d["goals"][0].update(lifecycle_status="done"), "goals[0].lifecycle_status", "code-invalid"),
    (lambda d: d["goals"][0].update(target_minutes_per_week=True), "goals[0].target_minutes_per_week", "structure"),
    (lambda d: d["responses"][0].update(questionnaire="phq9"), "responses[0].questionnaire", "code-invalid"),
    (lambda d: d["responses"][0]["answers"].update({"pain.nrs": None}), "responses[0].answers.pain.nrs", "structure"),
    (lambda d: d.update(status="finished"), "status", "code-invalid"),
    (lambda d: d["patient"].pop("value"), "patient.value", "required"),
    (lambda d: d["goals"][0].update(goal_id="a/b"), "goals[0].goal_id", "value"),
    (lambda d: d.update(activity_statuses={"massage": "completed"}), "activity_statuses.massage", "code-invalid"),
    (lambda d: d.update(activity_statuses={"postcard": "done"}), "activity_statuses.postcard", "code-invalid"),
    (lambda d: d.update(activity_statuses=["postcard"]), "activity_statuses", "structure"),
])
def test_single_defects_are_named(mutate: Any, path: str, code: str) -> None:
    data = example()
    mutate(data)
    assert issues_of(data).get(path) == code, issues_of(data)


def test_all_defects_are_reported_together() -> None:
    data = example()
    data.pop("start")
    data["sessions"][0]["performed"] = "yesterday"
    assert set(issues_of(data)) == {"start", "sessions[0].performed"}


def test_optional_fields_may_be_left_out() -> None:
    data = example()
    for key in ("achievement_status", "due", "lifecycle_status"):
        data["goals"][0].pop(key)
    data.pop("end")
    data.pop("status")
    episode = episode_from_json(data)
    goal = episode.goals[0]
    assert (goal.achievement_status, goal.due, goal.lifecycle_status) == (None, None, "active")
    assert episode.status == "active"


def test_not_an_object() -> None:
    assert issues_of([1, 2]) == {"$": "structure"}


def mapping_issues(data: dict[str, Any]) -> dict[str, str]:
    """Issues of mapping a payload that parses (``responses[i].answers.<linkId>`` -> diagnostics)."""
    with pytest.raises(MappingError) as err:
        episode_resources(episode_from_json(data), load_package().questionnaires())
    return {i.expression: i.diagnostics for i in err.value.issues}


def test_a_total_with_a_missing_item_is_refused_by_its_path() -> None:
    """The review's case: PHQ-2 = 6 with item 1 "several days" and item 2 missing was accepted."""
    data = example()
    answers = data["responses"][0]["answers"]
    answers.pop("phq2.q2")
    answers["phq2.total"] = 6
    issues = mapping_issues(data)
    assert list(issues) == ["responses[0].answers.phq2.total"]
    text = issues["responses[0].answers.phq2.total"]
    assert "missing: phq2.q2" in text and "allow 1-4" in text and "impossible" in text


def test_no_total_from_partial_items() -> None:
    data = example()
    data["responses"][0]["answers"].pop("fabq.pa3")
    resources = episode_resources(episode_from_json(data), load_package().questionnaires())
    values = {r["identifier"][0]["value"] for r in resources if r["resourceType"] == "Observation"}
    assert "EP-2026-0001/qr/intake/fabq.pa_score" not in values
    assert "EP-2026-0001/qr/intake/fabq.w_score" in values


def test_work_items_need_work_employed() -> None:
    data = example()
    data["responses"][0]["answers"]["work.employed"] = False
    issues = mapping_issues(data)
    assert set(issues) == {f"responses[0].answers.fabq.w{n}" for n in range(6, 17)}
    assert "asked only when work.employed = true" in issues["responses[0].answers.fabq.w6"]
