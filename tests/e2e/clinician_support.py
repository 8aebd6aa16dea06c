"""The clinician app's end-to-end stack: the service on loopback (a real werkzeug server), a patient
synced by the service to HAPI, the simulated EHR (tests/servers/ehr-launcher) in front of HAPI, the SMART
authorization server, and headless Debian Chromium driven by Selenium.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from werkzeug.serving import BaseWSGIServer, make_server

from service.app import create_app
from service.clinician.pages import EXTENSION, ClinicianState
from service.config import Settings
from service.store import Store, open_store
from tests.servers.fixtures import free_port, started
from tests.sync.support import drain, pusher, target_for

ROOT = Path(__file__).resolve().parents[2]
AXE_DIR = Path(__file__).resolve().parent / "axe"
FHIR_JSON = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}
SCOPE = "launch openid fhirUser offline_access patient/*.rs"


@dataclass
class Stack:
    app: Flask
    app_url: str
    launcher_url: str
    hapi_url: str
    store: Store
    remote_patient: str  # the patient's id on HAPI (and so in the simulated EHR)
    local_patient: str  # the service's own id of the patient

    @property
    def iss(self) -> str:
        return f"{self.launcher_url}/fhir"

    @property
    def clinician(self) -> ClinicianState:
        state: ClinicianState = self.app.extensions[EXTENSION]
        return state

    def hapi_search(self, query: str) -> list[dict[str, Any]]:
        bundle = requests.get(f"{self.hapi_url}/{query}", headers=FHIR_JSON, timeout=60).json()
        return [e["resource"] for e in bundle.get("entry", [])]


def example_episode() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((ROOT / "examples" / "episode.json").read_text(encoding="utf-8"))
    run = uuid.uuid4().hex[:10]
    payload = copy.deepcopy(payload)
    payload["episode_id"] = f"{payload['episode_id']}-{run}"
    payload["patient"]["value"] = f"{payload['patient']['value']}-{run}"
    return payload


def register_client(smart_url: str, redirect_uri: str) -> str:
    response = requests.post(f"{smart_url}/reg", json={
        "client_name": "ETMI clinician view", "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]}, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["client_id"])


@contextmanager
def serving(app: Flask, port: int) -> Iterator[BaseWSGIServer]:
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(10)


def sync_patient(app: Flask, database: str, hapi_url: str) -> tuple[Store, str, str]:
    """The example episode written through the API and pushed to HAPI by the sync worker's code."""
    response = app.test_client().post("/api/v1/episodes", json=example_episode())
    assert response.status_code == 201, response.get_data(as_text=True)[:500]
    store = open_store(database, migrate=False)
    drain(pusher(store, [target_for(hapi_url, "hapi")]), rounds=10)
    sent = store.outbox.list("sent")
    assert sent, store.outbox.counts()
    local = sent[0].patient_key
    remote = store.id_map.get("hapi", "Patient", local)
    assert remote is not None
    name_in_ehr(hapi_url, remote[0])
    return store, remote[0], local


def name_in_ehr(hapi_url: str, patient_id: str) -> None:
    """The EHR knows the patient's name (the service sends identifiers only): an edit made in HAPI."""
    url = f"{hapi_url}/Patient/{patient_id}"
    patient = requests.get(url, headers=FHIR_JSON, timeout=60).json()
    patient.update(name=[{"given": ["Alex"], "family": "Sample"}], gender="female", birthDate="1971-04-12")
    response = requests.put(url, json=patient, headers=FHIR_JSON, timeout=60)
    assert response.status_code == 200, response.text


@contextmanager
def clinician_stack(hapi_url: str, smart_url: str, tmp: Path) -> Iterator[Stack]:
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    client_id = register_client(smart_url, f"{app_url}/clinician/callback")
    env = {"FHIR_UPSTREAM": hapi_url, "SMART_ISSUER": smart_url, "APP_LAUNCH_URL": f"{app_url}/clinician/launch"}
    with started("ehr-launcher", env=env, timeout=60) as launcher:
        clients = [{"name": "Simulated EHR", "client_id": client_id, "issuers": [f"{launcher}/fhir"],
                    "scope": SCOPE, "target": "hapi", "frame_origins": [launcher]}]
        database = f"sqlite:///{tmp / 'etmi.db'}"
        app = create_app(Settings(database_url=database, auth_mode="none", public_base_url=app_url,
                                  smart_clients=json.dumps(clients)))
        store, remote, local = sync_patient(app, database, hapi_url)
        with serving(app, port):
            stack = Stack(app, app_url, launcher, hapi_url, store, remote, local)
            yield stack
        shutil.rmtree(stack.clinician.sessions.directory, ignore_errors=True)
        store.close()


def axe_source() -> str:
    """axe-core from npm (tests/e2e/axe, installed with ``npm ci`` on first use like the Node servers)."""
    script = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for axe-core"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=AXE_DIR, check=True,
                       timeout=600)
    return script.read_text(encoding="utf-8")


def chromium(width: int = 1280, height: int = 900) -> webdriver.Chrome:
    """Debian's chromium through its chromium-driver (no browser download)."""
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = shutil.which("chromedriver")
    assert driver, "the browser tests need Debian's chromium and chromium-driver (.ci/run installs them)"
    service = Service(executable_path=driver)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(120)
    return driver
