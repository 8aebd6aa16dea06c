"""Golden files: each input payload and the exact FHIR it must map to, compared as parsed JSON.

Inputs: ``examples/episode.json`` and the cases in ``tests/golden/input/``. Expected outputs live in
``tests/golden/expected/``. After an intended change, rewrite them with
``ETMI_UPDATE_GOLDEN=1 ./scripts/test tests/golden`` and review the git diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mappings.bundle import episode_resources, episode_to_bundle
from mappings.payload import episode_from_json
from mappings.questionnaire import questionnaire_response_to_answers
from mappings.scoring import complete_scores, flatten_items
from mappings.session import with_sessions_total
from service.ig import load_package
from service.synthetic import synthetic_episode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
INPUTS = sorted([ROOT / "examples" / "episode.json", *(HERE / "input").glob("*.json")])
UPDATE = os.environ.get("ETMI_UPDATE_GOLDEN") == "1"


def load(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.mark.parametrize("source", INPUTS, ids=lambda p: p.stem)
def test_episode_bundle_matches_golden(source: Path) -> None:
    bundle = episode_to_bundle(episode_from_json(load(source)), load_package().questionnaires())
    expected_path = HERE / "expected" / f"{source.stem}.bundle.json"
    if UPDATE or not expected_path.exists():
        expected_path.parent.mkdir(exist_ok=True)
        expected_path.write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n")
        if not UPDATE:
            pytest.fail(f"wrote missing golden file {expected_path.relative_to(ROOT)}; review and commit it")
    assert bundle == load(expected_path)


@pytest.mark.parametrize("source", INPUTS, ids=lambda p: p.stem)
def test_questionnaire_responses_round_trip(source: Path) -> None:
    episode = episode_from_json(load(source))
    questionnaires = load_package().questionnaires()
    qrs = [r for r in episode_resources(episode, questionnaires) if r["resourceType"] == "QuestionnaireResponse"]
    assert len(qrs) == len(episode.responses)
    for response, qr in zip(episode.responses, qrs, strict=True):
        back = questionnaire_response_to_answers(qr)
        questionnaire = questionnaires[response.questionnaire]
        with_total, _ = with_sessions_total(response, episode, frozenset(flatten_items(questionnaire)))
        completed, _ = complete_scores(with_total.answer_map(), questionnaire)
        assert back.answer_map() == completed
        assert (back.response_id, back.questionnaire, back.authored) == (
            response.response_id, response.questionnaire, response.authored)


@pytest.mark.parametrize("source", sorted((HERE / "input").glob("synthetic-*.json")), ids=lambda p: p.stem)
def test_synthetic_inputs_are_the_generator_output(source: Path) -> None:
    """The synthetic golden cases are ``service.synthetic`` output: regenerate them when it changes."""
    assert load(source) == synthetic_episode(int(source.stem.split("-")[1]))
