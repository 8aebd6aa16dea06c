"""``etmi-fhir sync pull`` and ``etmi-fhir worker`` run as the Docker image runs them apply an EHR edit.

The image installs the code away from the checkout (no ``.cache`` beside it), puts the R4 definitions
and the guide package in their own folders (``ETMI_R4_DEFINITIONS=/app/r4``,
``ETMI_PROFILES_DIR=/app/profiles/package``) and runs from ``/app``. Here the code is copied to a
temporary ``app/`` (a symlink would resolve back to the checkout), the definitions and the package
sit in folders of their own, and each command runs in a subprocess from that folder: a command that
leaves the validator unconfigured finds no definitions and applies no EHR edit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service.adapters.fhir_client import FhirClient
from service.app import create_app
from service.config import Settings
from service.store import Store
from tests.conftest import ROOT
from tests.integration.test_sync_conflicts import ehr_edit
from tests.sync.support import drain, pusher, target_for, unique_episode

pytestmark = [pytest.mark.hapi, pytest.mark.slow]
TARGET = "hapi"
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The image's layout: the code in ``app/``, the definitions in ``r4/``, the package in its own folder."""
    from tests.validation.conftest import ensure_definitions

    ensure_definitions()
    base = tmp_path_factory.mktemp("image")
    app = base / "app"
    for package in ("service", "mappings"):
        shutil.copytree(ROOT / package, app / package, ignore=IGNORE)
    (base / "r4").symlink_to(ROOT / ".cache" / "r4", target_is_directory=True)
    shutil.copytree(ROOT / "profiles" / "package", base / "ig" / "package")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETMI_") and k != "PYTHONPATH"}
    env.update(ETMI_R4_DEFINITIONS=str(base / "r4"), ETMI_PROFILES_DIR=str(base / "ig" / "package"),
               PYTHONPATH=str(app), ETMI_LOG_LEVEL="INFO")
    assert not (app / ".cache").exists()
    return {"cwd": str(app), **{f"env:{k}": v for k, v in env.items()}}


def run_cli(deployed: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k[4:]: v for k, v in deployed.items() if k.startswith("env:")}
    return subprocess.run([sys.executable, "-m", "service.cli", *argv], cwd=deployed["cwd"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def episode_goal_edited_on_the_ehr(hapi_url: str, tmp_path: Path, index: int) -> tuple[Any, str, list[str]]:
    """An episode written through the API, pushed to HAPI, its Goal's target then changed in the EHR.

    Returns the app, the episode id and the command-line options naming the database and the target.
    """
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"targets": [{"name": TARGET, "base_url": hapi_url, "pull_overlap_seconds": 5,
                                                "timeout": [10, 120]}]}))
    database = f"sqlite:///{tmp_path / 'etmi.db'}"
    app = create_app(Settings(database_url=database, auth_mode="none", sync_targets=str(targets)))
    client = app.test_client()
    payload = unique_episode(index)
    created = client.post("/api/v1/episodes", json=payload)
    assert created.status_code == 201, created.get_data(as_text=True)
    store: Store = app.extensions["etmi"].store
    reports = drain(pusher(store, [target_for(hapi_url, TARGET)]))
    assert store.outbox.counts() == {"sent": 1}, [r.errors for r in reports]

    goal = client.get("/fhir/Goal").get_json(force=True)["entry"][0]["resource"]
    remote_id = (store.id_map.get(TARGET, "Goal", goal["id"]) or ("",))[0]
    ehr = FhirClient(hapi_url)
    pushed = ehr.read("Goal", remote_id).body or {}
    for rtype in ("Goal", "CarePlan"):  # poll from here on, not the whole shared server
        store.sync_state.set_cursor(f"pull:{TARGET}:{rtype}", pushed["meta"]["lastUpdated"])
    target = dict(pushed["target"][0], detailQuantity={**pushed["target"][0]["detailQuantity"], "value": 77})
    ehr_edit(ehr, "Goal", remote_id, {"target": [target]})
    return app, payload["episode_id"], ["--database-url", database, "--targets", str(targets)]


def stored_minutes(app: Any, episode_id: str) -> int:
    body = app.test_client().get(f"/api/v1/episodes/{episode_id}").get_json()
    return int(body["episode"]["goals"][0]["target_minutes_per_week"])


def test_sync_pull_as_deployed_applies_an_ehr_edit(hapi_url: str, tmp_path: Path, deployed: dict[str, str]) -> None:
    app, episode_id, options = episode_goal_edited_on_the_ehr(hapi_url, tmp_path, 71)
    try:
        assert stored_minutes(app, episode_id) != 77
        done = run_cli(deployed, "sync", "pull", *options)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["applied"] == 1, (report, done.stderr[-2000:])
        assert stored_minutes(app, episode_id) == 77
    finally:
        app.extensions["etmi"].store.close()


def test_worker_as_deployed_applies_an_ehr_edit(hapi_url: str, tmp_path: Path, deployed: dict[str, str]) -> None:
    app, episode_id, options = episode_goal_edited_on_the_ehr(hapi_url, tmp_path, 72)
    try:
        done = run_cli(deployed, "worker", "--exit-when-idle", "--pull-every", "3600", *options)
        assert done.returncode == 0, done.stderr
        assert stored_minutes(app, episode_id) == 77, done.stderr[-2000:]
    finally:
        app.extensions["etmi"].store.close()
