"""Operator messages: ``worker`` logs its start and each push round; ``sync status`` names the targets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import main
from service.commands.worker import _without_credentials
from tests.servers.fixtures import free_port
from tests.sync.support import enqueue_bundle, episode_bundle, new_store, unique_episode


def targets_file(tmp_path: Path, base: str) -> Path:
    path = tmp_path / "targets.toml"
    path.write_text(f'[[targets]]\nname = "hospital-ehr"\nbase_url = "{base}"\nmax_attempts = 3\n')
    return path


def test_sync_status_names_the_targets_of_rows_for_every_target(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    store = new_store(tmp_path)
    enqueue_bundle(store, episode_bundle(unique_episode(1)), "p1")  # no targets given: one row for every target
    store.close()
    common = ["--targets", str(targets_file(tmp_path, "http://127.0.0.1:9/fhir")),
              "--database-url", f"sqlite:///{tmp_path / 'etmi.db'}"]
    assert main(["sync", "status", *common]) == 0
    out = capsys.readouterr().out
    assert "  every target (hospital-ehr): pending=1" in out
    assert " target=hospital-ehr " in out and "target=*" not in out


def test_worker_logs_its_start_and_each_round(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    enqueue_bundle(store, episode_bundle(unique_episode(2)), "p1")
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETMI_")}
    cli = Path(sys.executable).with_name("etmi-fhir")
    done = subprocess.run([str(cli), "worker", "--targets", str(targets_file(tmp_path, f"http://127.0.0.1:{free_port()}/fhir")),
                           "--database-url", f"sqlite:///{tmp_path / 'etmi.db'}", "--exit-when-idle",
                           "--pull-every", "0", "--idle", "0.2"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    [started] = [r for r in records if r["msg"] == "sync.worker.started"]
    assert [t.split()[0] for t in started["targets"]] == ["hospital-ehr"]
    assert started["database"] == f"sqlite:///{tmp_path / 'etmi.db'}"
    assert (started["threads"], started["idle_s"], started["pull_every_s"]) == (4, 0.2, 0)  # the default concurrency
    rounds = [r for r in records if r["msg"] == "sync.worker.round"]
    assert rounds and rounds[0]["claimed"] == 1 and rounds[0]["sent"] == 0
    assert rounds[0]["retried"] + rounds[0]["dead"] == 1  # the EHR is not there


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://etmi:s3cret@db.example:5432/etmi?sslmode=require", "postgresql+psycopg://db.example:5432/etmi"),
    ("sqlite:///var/etmi.db", "sqlite:///var/etmi.db"),
    ("not a url", "(unparsable database URL)"),
])
def test_the_worker_shows_the_database_without_credentials(url: str, shown: str) -> None:
    assert _without_credentials(url) == shown
