"""``etmi-fhir map`` reports every problem of a broken episode at once, each at a path of the payload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.cli import main
from tests.conftest import ROOT


def _map(tmp_path: Path, episode: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "episode.json"
    path.write_text(json.dumps(episode))
    code = main(["map", str(path)])
    err = capsys.readouterr().err
    return code, json.loads(err) if err.strip() else {}


def _has(data: Any, dotted: str) -> bool:
    """The path names an element that is in the payload (``goals[0].target_minutes_per_week``)."""
    for part in dotted.replace("]", "").split("."):
        name, _, index = part.partition("[")
        if not isinstance(data, dict) or name not in data:
            return False
        data = data[name]
        if index:
            data = data[int(index)]
    return True


def test_every_problem_at_once_at_payload_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    episode = json.loads((ROOT / "examples" / "episode.json").read_text())
    episode["start"] = "2026-13-45"
    episode["patient"]["system"] = "not a uri"
    episode["goals"][0]["target_minutes_per_week"] = -5
    episode["sessions"][0]["performed"] = "2026-02-30T09:00:00+01:00"
    code, outcome = _map(tmp_path, episode, capsys)
    assert code == 1
    paths = sorted(p for issue in outcome["issue"] for p in issue["expression"])
    assert paths == ["goals[0].target_minutes_per_week", "patient.system", "sessions[0].performed", "start"]
    assert all(_has(episode, p) for p in paths)


def test_a_leap_day_is_a_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    episode = json.loads((ROOT / "examples" / "episode.json").read_text())
    episode["sessions"][0]["performed"] = "2028-02-29T09:00:00+01:00"
    code, _ = _map(tmp_path, episode, capsys)
    assert code == 0
