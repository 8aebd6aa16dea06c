"""The episode payload parser reports every problem at once, each with its path in the payload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mappings.errors import MappingError
from mappings.payload import episode_from_json

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
