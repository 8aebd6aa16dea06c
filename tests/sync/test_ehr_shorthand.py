"""``ETMI_EHR_BASE_URL`` (+ ``ETMI_EHR_BEARER_TOKEN``): one EHR target without a targets file, named ``default``
(service/sync/targets.py ``configured_targets``); ``ETMI_SYNC_TARGETS`` wins when both are set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service import compose
from service.cli import main
from service.config import Settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("ETMI_SYNC_TARGETS", "ETMI_SYNC_STATE_FILE", "ETMI_EHR_BEARER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ETMI_DATABASE_URL", f"sqlite:///{tmp_path / 'etmi.db'}")
    monkeypatch.setenv("ETMI_EHR_BASE_URL", "http://127.0.0.1:9/fhir/")
    return monkeypatch


def test_sync_status_with_only_the_ehr_base_url_names_its_target(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sync", "status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["targets"] == ["default"]
    assert report["transaction_sizes"]["default"] == {"mode": "transaction", "configured_max_entries": 50,
                                                      "max_entries": 50, "learned": None}
    assert main(["sync", "status"]) == 0
    out = capsys.readouterr().out
    assert "every target (default)" in out or "target default:" in out


def test_the_bearer_token_goes_to_the_target_and_never_into_a_repr(env: pytest.MonkeyPatch) -> None:
    env.setenv("ETMI_EHR_BEARER_TOKEN", "secret-token-123")
    settings = Settings.from_env()
    [target] = compose.targets(settings)
    assert (target.name, target.base_url, target.auth.kind, target.auth.token) == (
        "default", "http://127.0.0.1:9/fhir", "bearer", "secret-token-123")
    assert "secret-token-123" not in repr(settings)


def test_etmi_sync_targets_wins_over_the_shorthand(env: pytest.MonkeyPatch) -> None:
    env.setenv("ETMI_SYNC_TARGETS", '{"targets": {"hospital": {"base_url": "http://127.0.0.1:9/other"}}}')
    assert [t.name for t in compose.targets(Settings.from_env())] == ["hospital"]
