"""Session-wide pytest fixtures for the real test servers.

Each server lives in ``tests/servers/<name>/`` with an executable ``start`` script that builds what
is missing, runs the server in the foreground on 127.0.0.1 (port from ``PORT``) and prints its base
URL on a line of its own once it answers. A fixture either reuses a server that is already running
(its URL in an environment variable, e.g. ``ETMI_TEST_HAPI_URL``) or starts one for the session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

SERVERS = Path(__file__).resolve().parent
URL_PREFIXES = ("http://", "https://", "postgresql://", "postgresql+psycopg://")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A server started from ``tests/servers/<name>/start``; the base URL comes from its output."""

    def __init__(self, name: str, timeout: float, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = SERVERS / name / f".{name}.log"
        full_env = {**os.environ, "PORT": str(self.port), "HOST": "127.0.0.1", **(env or {})}
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [str(SERVERS / name / "start")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env,
            start_new_session=True,
        )
        self.url = self._wait_for_url(timeout)

    def _wait_for_url(self, timeout: float) -> str:
        found: list[str] = []
        done = threading.Event()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self._log.write(line)
                self._log.flush()
                text = line.strip()
                if not found and text.startswith(URL_PREFIXES) and " " not in text:
                    found.append(text)
                    done.set()
            done.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        deadline = time.monotonic() + timeout
        while not done.wait(1.0):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not announce its URL within {timeout:.0f}s; see {self.log_path}")
        if not found:
            raise RuntimeError(f"{self.name} exited with {self.proc.poll()}; see {self.log_path}")
        return found[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._pump.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


@contextmanager
def started(name: str, env: dict[str, str] | None = None, timeout: float = 600) -> Iterator[str]:
    """A private server for one test module (or one benchmark case): its base URL, stopped afterwards."""
    server = ServerProcess(name, timeout, env)
    try:
        yield server.url.rstrip("/")
    finally:
        server.stop()


def medplum_secured_by(smart_url: str) -> Iterator[str]:
    """A private Medplum that checks bearer tokens of ``smart_url``, registered there as an audience."""
    with started("medplum", env={"AUTH_ISSUER": smart_url}) as url:
        registered = requests.post(f"{smart_url}/admin/audiences", json={"audience": url}, timeout=10)
        assert registered.status_code == 201, registered.text
        yield url


def _server(name: str, env_var: str, timeout: float, env: dict[str, str] | None = None) -> Iterator[str]:
    if os.environ.get(env_var):
        yield os.environ[env_var].rstrip("/")
        return
    server = ServerProcess(name, timeout, env)
    try:
        yield server.url.rstrip("/")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def hapi_url() -> Iterator[str]:
    """Base URL of the HAPI FHIR JPA server (R4, H2 in memory, ETMI package loaded)."""
    # the first run builds the server with Maven: allow for the downloads
    yield from _server("hapi", "ETMI_TEST_HAPI_URL", timeout=1800)


@pytest.fixture(scope="session")
def medplum_url() -> Iterator[str]:
    """Base URL of the Medplum fhir-router server (second, independent FHIR implementation)."""
    yield from _server("medplum", "ETMI_TEST_MEDPLUM_URL", timeout=600)


@pytest.fixture(scope="session")
def smart_url() -> Iterator[str]:
    """Issuer URL of the SMART authorization server (oidc-provider)."""
    yield from _server("smart-as", "ETMI_TEST_SMART_URL", timeout=600)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL server on loopback (a throw-away cluster)."""
    yield from _server("postgres", "ETMI_TEST_DATABASE_URL", timeout=120)
