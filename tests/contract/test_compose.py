"""``compose.yaml`` checked without a Docker engine (this machine has none), in the spirit of test_dockerfile.py.

What can be checked here is: every ``ETMI_*`` variable it sets is one ``service/config.py`` reads, and the
settings it gives the service and the worker are ones they start with (and would refuse without the audience
compose sets); every published port binds 127.0.0.1; every long-running container has a health check (HAPI's
distroless image has no shell, so a one-shot container polls its ``/fhir/metadata`` and gates the worker);
every image is pinned; the IG archive step really builds a package HAPI can install; the worker's health
check command runs and exits 0 against a database with the compose targets. PyYAML comes with the dev lock.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config import ConfigError, Settings
from service.sync.targets import targets_from_spec
from tests.conftest import ROOT
from tests.contract.test_dockerfile import DOCKERFILE, instructions

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
CONFIG_VARIABLES = set(re.findall(r'"(ETMI_[A-Z0-9_]+)"', (ROOT / "service" / "config.py").read_text()))
ETMI_CONTAINERS = ("etmi", "worker")


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's ``${VAR:-default}`` and ``${VAR}`` with ``environ`` as the shell's environment."""
    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3) or ""
        return environ.get(name) or default
    return re.sub(r"\$\{([A-Z0-9_]+)(:-([^}]*))?\}", one, value)


def environment(service: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: environment as a mapping"
    return {k: interpolate(str(v), environ or {}) for k, v in env.items()}


def one_shots() -> set[str]:
    """Services others wait for to complete: they run once and exit."""
    return {name for s in SERVICES.values() for name, cond in (s.get("depends_on") or {}).items()
            if cond.get("condition") == "service_completed_successfully"}


def test_the_four_parts_are_there() -> None:
    assert {"etmi", "worker", "postgres", "hapi"} <= set(SERVICES)
    assert SERVICES["worker"]["command"][:2] == ["etmi-fhir", "worker"]
    assert "postgresql://" in environment("etmi")["ETMI_DATABASE_URL"]
    assert "@postgres:5432/" in environment("worker")["ETMI_DATABASE_URL"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_etmi_variable_is_a_setting(service: str) -> None:
    unknown = {k for k in environment(service) if k.startswith("ETMI_")} - CONFIG_VARIABLES
    assert not unknown, f"{service} sets variables service/config.py never reads: {sorted(unknown)}"


@pytest.mark.parametrize("service", ETMI_CONTAINERS)
def test_the_service_and_worker_start_with_these_settings(service: str) -> None:
    env = environment(service)
    settings = Settings.from_env(env)
    settings.check()  # raises ConfigError if the service would refuse to start
    assert settings.auth_mode == "jwt" and settings.auth_audience, "jwt by default, with an audience"
    without = {k: v for k, v in env.items() if k != "ETMI_AUTH_AUDIENCE"}
    with pytest.raises(ConfigError, match="ETMI_AUTH_AUDIENCE"):
        Settings.from_env(without).check()
    [target] = targets_from_spec(settings.sync_targets)
    host = re.match(r"https?://([^:/]+)", target.base_url)
    assert host and host.group(1) in SERVICES, f"the sync target {target.base_url} is a compose service"


def test_none_mode_is_an_opt_in_of_the_caller() -> None:
    env = environment("etmi", {"ETMI_AUTH_MODE": "none", "ETMI_ALLOW_UNAUTHENTICATED_REMOTE": "true"})
    settings = Settings.from_env(env)
    settings.check()
    assert settings.auth_mode == "none" and settings.allow_unauthenticated_remote
    assert Settings.from_env(environment("etmi")).allow_unauthenticated_remote is False


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_ports_bind_loopback_only(service: str) -> None:
    for port in SERVICES[service].get("ports", []):
        assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{service} publishes {port!r} beyond loopback"


def test_long_running_containers_have_health_checks() -> None:
    once = one_shots()
    for name, service in SERVICES.items():
        if name in once:
            continue
        if name == "hapi":  # distroless: polled from a one-shot the worker waits for
            gates = [g for g in once if "http://hapi:8080/fhir/metadata" in json.dumps(SERVICES[g].get("command"))]
            assert gates and any(g in SERVICES["worker"]["depends_on"] for g in gates)
            continue
        check = service.get("healthcheck", {}).get("test")
        assert check and check[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
    assert SERVICES["worker"]["depends_on"]["etmi"]["condition"] == "service_healthy"
    assert SERVICES["etmi"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_depends_on_names_services_and_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        for other in service.get("depends_on") or {}:
            assert other in SERVICES, f"{name} depends on unknown {other}"
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image ({image!r})"
        if "build" in service:
            assert service["build"] == "." and (ROOT / "Dockerfile").is_file()
    assert re.fullmatch(r"hapiproject/hapi:v\d+\.\d+\.\d+(-\d+)?", SERVICES["hapi"]["image"])


def test_the_ig_archive_step_builds_the_package_hapi_installs(tmp_path: Path) -> None:
    copied = [args.split() for kind, args in instructions(DOCKERFILE.read_text()) if kind == "COPY"]
    assert ["profiles/package", "./profiles/package"] in copied, "the image holds /app/profiles/package"
    command = SERVICES["hapi-ig"]["command"]
    assert command[:2] == ["python", "-c"]
    code = command[2].replace("/app/profiles/package", str(ROOT / "profiles" / "package"))
    code = code.replace("/ig/", f"{tmp_path}/")
    subprocess.run([sys.executable, "-c", code], check=True)
    with tarfile.open(tmp_path / "etmi-ig.tgz") as archive:
        names = set(archive.getnames())
    assert "package/package.json" in names
    assert "package/StructureDefinition-etmi-observation-pain.json" in names
    manifest = json.loads((ROOT / "profiles" / "package" / "package.json").read_text())
    spring = json.loads(SERVICES["hapi"]["environment"]["SPRING_APPLICATION_JSON"])
    [guide] = spring["hapi"]["fhir"]["implementationguides"].values()
    assert (guide["name"], guide["version"]) == (manifest["name"], manifest["version"])
    assert guide["packageUrl"] == "file:///ig/etmi-ig.tgz" and "etmi-ig:/ig:ro" in SERVICES["hapi"]["volumes"]
    assert "Questionnaire" in guide["installResourceTypes"] and guide["fetchDependencies"] is False


def test_the_worker_health_check_runs(tmp_path: Path) -> None:
    check = SERVICES["worker"]["healthcheck"]["test"]
    assert check[0] == "CMD" and check[1] == "etmi-fhir"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETMI_")}
    env.update(environment("worker"), ETMI_DATABASE_URL=f"sqlite:///{tmp_path / 'etmi.db'}")
    cli = Path(sys.executable).with_name("etmi-fhir")
    done = subprocess.run([str(cli), *check[2:]], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["targets"] == ["hapi"]
