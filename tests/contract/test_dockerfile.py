"""The Dockerfile's build and run steps, replayed without a Docker engine (this machine has none).

Its COPY lines fill a scratch ``/app``; its RUN step's ``pip`` commands (the hashed lock file, then
the service itself, not editable: what the image gets) and its ``python -c`` build step run as written
in a fresh virtualenv with its ENV; its CMD (gunicorn, bound to loopback) must refuse to start with
the image's defaults (``jwt`` mode without an audience), and answer ``/readyz`` and accept the example
episode in ``none`` mode. This catches what a real ``docker build`` would: files the image lacks, paths
that only work in a checkout, a dependency the lock file lacks.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.servers.fixtures import free_port

DOCKERFILE = ROOT / "Dockerfile"
EXAMPLE = ROOT / "examples" / "episode.json"


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(x for x in text.splitlines() if not x.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def env_of(args: str, app: Path) -> dict[str, str]:
    return {k: v.replace("/app", str(app)) for k, v in (pair.split("=", 1) for pair in shlex.split(args))}


def copy_into(app: Path, args: str) -> None:
    """``COPY src... dest``: into ``dest/`` when it ends with a slash, else as ``dest``."""
    *sources, dest = args.split()
    for source in sources:
        target = app / dest / Path(source).name if dest.endswith("/") else app / dest
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / source, target)


@pytest.mark.slow
def test_the_image_steps_build_a_service_that_answers(tmp_path: Path) -> None:
    steps = instructions(DOCKERFILE.read_text())
    app, venv = tmp_path / "app", tmp_path / "venv"
    app.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETMI_")}
    for kind, args in steps:
        if kind == "COPY":
            copy_into(app, args)
        elif kind == "ENV":
            env.update(env_of(args, app))
    (app / "var").mkdir()

    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    [build] = [a for k, a in steps if k == "RUN"]
    commands = [c.strip() for c in build.split("&&")]
    pips = [shlex.split(c) for c in commands if c.startswith("pip ")]
    assert pips[0][:3] == ["pip", "install", "--require-hashes"], "the image installs the hashed lock file first"
    assert all("--no-deps" in c for c in pips[1:]), "after the lock, nothing else is resolved"
    for command in pips:
        pip = subprocess.run([str(venv / "bin" / "pip"), *command[1:], "-q"], cwd=app, capture_output=True,
                             text=True, env={**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        assert pip.returncode == 0, pip.stderr[-2000:]
    snippet = re.search(r'python -c "([^"]+)"', build)
    assert snippet, "the RUN step pre-builds the validator's index with python -c"
    run = subprocess.run([str(venv / "bin" / "python"), "-c", snippet.group(1)], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]

    [cmd] = [json.loads(a) for k, a in steps if k == "CMD"]
    port = free_port()
    cmd = [str(venv / "bin" / cmd[0]), *(f"127.0.0.1:{port}" if a.startswith("0.0.0.0:") else a for a in cmd[1:])]
    refused = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0, "jwt mode without ETMI_AUTH_AUDIENCE must not start"
    assert "ETMI_AUTH_AUDIENCE is required" in refused.stdout + refused.stderr
    log = tmp_path / "gunicorn.log"
    with log.open("w") as sink:
        server = subprocess.Popen(cmd, cwd=tmp_path, env={**env, "ETMI_AUTH_MODE": "none"},
                                  stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, ready = time.monotonic() + 60, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                ready = requests.get(f"{base}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # workers still booting
                pass
            time.sleep(0.5)
        assert ready is not None and ready.status_code == 200, log.read_text()[-3000:]
        assert ready.json()["checks"] == {"database": True, "migrations": True, "profiles": True}
        posted = requests.post(f"{base}/api/v1/episodes", json=json.loads(EXAMPLE.read_text()), timeout=30)
        assert posted.status_code == 201, posted.text
        found = requests.get(f"{base}/fhir/Observation", headers={"Accept": "application/fhir+json"}, timeout=30)
        assert found.status_code == 200 and found.json()["total"] > 0
    finally:
        server.terminate()
        server.wait(timeout=30)
