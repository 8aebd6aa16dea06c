"""The operator commands against the real servers: check-server, sync push/status/replay."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from service.cli import main
from tests.sync.support import (
    enqueue_bundle,
    enqueue_resource,
    episode_bundle,
    episode_resources,
    first_of,
    new_store,
    unique_episode,
)


def test_check_server_reports_capabilities_and_smoke_round_trip(
    ehr_url: tuple[str, str], capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["check-server", ehr_url[1], "--smoke", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, [s for s in report.get("smoke", []) if not s["ok"]] or report
    assert report["fhirVersion"] == "4.0.1" and report["recommended_mode"] == "transaction"
    for rtype in ("Patient", "Goal", "CarePlan", "Observation", "QuestionnaireResponse", "Provenance"):
        assert not report["types"][rtype]["missing"], rtype
    steps = {s["step"]: s for s in report["smoke"]}
    assert all(s["ok"] for s in steps.values()), steps
    stale = steps["update with If-Match, stale If-Match refused"]["detail"]
    gone = steps["clean up (delete, then read gives 404/410)"]["detail"]
    if ehr_url[0] == "hapi":  # the differences the sync engine absorbs
        assert "409" in stale and "410" in gone
    else:
        assert "412" in stale and "404" in gone


def test_push_status_and_replay_of_a_dead_letter(
    ehr_url: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A goal of another patient entry that references a patient not yet on the EHR is dead-lettered
    (max_attempts = 1 here); once the episode is sent, the operator replays it and it goes through."""
    name, base = ehr_url
    targets = tmp_path / "targets.toml"
    targets.write_text(f'[[targets]]\nname = "{name}"\nbase_url = "{base}"\nmax_attempts = 1\n'
                       + ("max_entries = 8\n" if name == "medplum" else ""))
    common = ["--targets", str(targets), "--database-url", f"sqlite:///{tmp_path / 'etmi.db'}",
              "--state", str(tmp_path / "state.json")]
    store = new_store(tmp_path)
    payload = unique_episode(30)
    goal = copy.deepcopy(first_of(episode_resources(payload), "Goal"))
    goal["description"] = {"text": "edited before the episode reached the EHR"}
    enqueue_resource(store, goal, "goal-first")  # another patient key: not ordered after the episode
    enqueue_bundle(store, episode_bundle(payload), "p1")

    assert main(["sync", "push", *common]) == 1, "a dead letter makes the push exit non-zero"
    capsys.readouterr()
    assert main(["sync", "status", "--json", *common]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["outbox"] == {"sent": 1, "dead": 1}
    [dead] = status["dead"]
    assert dead["id"] == 1 and "not yet on target" in json.dumps(dead["outcome"])

    assert main(["sync", "replay", "--all-dead", *common]) == 0
    assert main(["sync", "push", *common]) == 0
    assert store.outbox.counts() == {"sent": 2}
    capsys.readouterr()
    assert main(["sync", "status", *common]) == 0
    assert capsys.readouterr().out.startswith("outbox: sent=2")
    in_db = [a for a in common if a != "--state" and not a.endswith("state.json")]
    assert main(["sync", "status", "--json", *in_db]) == 0, "state in the database (store.sync_state)"
    assert json.loads(capsys.readouterr().out)["conflicts_held"] == []
