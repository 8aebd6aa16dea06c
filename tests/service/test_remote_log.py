"""An EHR edit that is not applied is logged with its type, id and reason, and nothing identifying."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.compose import remote_edits
from service.sync.pull import hand_over


def _goal(app: Flask, client: FlaskClient, episode: dict[str, Any]) -> dict[str, Any]:
    client.post("/api/v1/episodes", json=episode)
    return dict(client.get("/fhir/Goal").get_json(force=True)["entry"][0]["resource"])


def _not_applied(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    [record] = [r for r in caplog.records if getattr(r, "event", None) == "remote_not_applied"]
    return record


def test_an_unknown_goal_names_type_id_and_reason(app: Flask, client: FlaskClient, episode: dict[str, Any],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    goal = _goal(app, client, episode)
    unknown = copy.deepcopy(goal)
    unknown["identifier"][0]["value"] = "EP-SECRET-42/goal/x"
    with caplog.at_level(logging.WARNING, logger="etmi"):
        assert hand_over(remote_edits(app.extensions["etmi"]), "ehr", unknown) is False
    record = _not_applied(caplog)
    assert (record.resource_type, record.resource_id, record.status) == ("Goal", goal["id"], 404)  # type: ignore[attr-defined]
    assert "not stored here" in record.getMessage()
    assert "EP-SECRET-42" not in record.getMessage()


def test_an_invalid_goal_names_the_rule_and_path(app: Flask, client: FlaskClient, episode: dict[str, Any],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    goal = _goal(app, client, episode)
    broken = copy.deepcopy(goal)
    del broken["target"]
    with caplog.at_level(logging.WARNING, logger="etmi"):
        assert hand_over(remote_edits(app.extensions["etmi"]), "ehr", broken) is False
    record = _not_applied(caplog)
    assert record.status == 422  # type: ignore[attr-defined]
    assert record.getMessage().startswith("EHR edit not applied: invalid: ")
    assert " at " in record.getMessage()
