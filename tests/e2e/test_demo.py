"""The README's main-job command, ``./scripts/demo``, in a fresh clone: the URLs it prints answer, the API
docs render their operations in headless Chromium from the service alone, the simulated EHR launches the
clinician app (when tests/servers/ehr-launcher is there), the EHR holds every generated patient exactly
once, and Ctrl-C stops everything the demo started.

The clone has no ``.venv`` and no ``.cache``: the demo creates its virtualenv from the hashed lock file
(``ETMI_DEMO_VENV`` in this test's environment skips that, pointing at a virtualenv with the clone's
code), and Medplum (``--ehr medplum``, lighter than HAPI) installs from npm.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from service.commands.cohort import cohort_episode
from tests.conftest import ROOT
from tests.servers.fixtures import free_port

pytestmark = [pytest.mark.slow, pytest.mark.medplum]
PATIENTS, SEED = 10, 2026
LINE = re.compile(r"^demo: (?P<name>[^:]+): (?P<url>http://\S+)$")


def read_urls(demo: subprocess.Popen[str], timeout: float) -> dict[str, str]:
    """The ``demo: NAME: URL`` lines, once the last one (the EHR's base) is printed."""
    urls: dict[str, str] = {}
    done = threading.Event()

    def reader() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            if found := LINE.match(line.strip()):
                urls[found["name"]] = found["url"]
            if "EHR FHIR base" in urls:
                break
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    done.wait(timeout)
    return urls


def docs_render_locally(url: str) -> tuple[int, list[str]]:
    """(operations shown, resources loaded) of the API docs page in headless Chromium."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.e2e.clinician_support import chromium

    driver = chromium()
    try:
        driver.get(url)
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
        operations = len(driver.find_elements(By.CSS_SELECTOR, ".opblock"))
        loaded: list[str] = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        return operations, loaded
    finally:
        driver.quit()


def test_the_demo_in_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=300)
    assert not (clone / ".venv").exists() and not (clone / ".cache").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETMI_") or k == "ETMI_DEMO_VENV"}
    log = (tmp_path / "demo.log").open("w")
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:  # pytest started in the background by a shell: the demo
        signal.signal(signal.SIGINT, signal.default_int_handler)  # would inherit the ignore and could not trap Ctrl-C
    demo = subprocess.Popen(["./scripts/demo", "--ehr", "medplum", "--patients", str(PATIENTS), "--seed", str(SEED),
                             "--port", str(free_port())], cwd=clone, env=env, stdout=subprocess.PIPE,
                            stderr=log, text=True, start_new_session=True)
    try:
        urls = read_urls(demo, 2400)
        assert set(urls) >= {"landing page", "API docs", "FHIR façade", "EHR FHIR base"}, \
            (tmp_path / "demo.log").read_text()[-3000:]
        for name, url in urls.items():
            answer = requests.get(url, timeout=30)
            assert answer.status_code == 200, (name, url, answer.status_code)
        base = urls["landing page"].rstrip("/")
        assert "API docs" in requests.get(base + "/", timeout=30).text

        operations, loaded = docs_render_locally(urls["API docs"])
        assert operations >= 10  # episodes, items, patients, outbox, audit
        assert loaded and all(u.startswith(base + "/") for u in loaded), loaded  # nothing from elsewhere

        if launcher := urls.get("EHR launcher of the clinician app"):  # the SMART launch, as a browser follows it
            patient_link = re.search(r'href="(/launch\?patient=[^"]+)"', requests.get(launcher, timeout=30).text)
            assert patient_link, "the simulated EHR lists the synced patients"
            opened = requests.Session().get(launcher.rstrip("/") + patient_link[1].replace("&amp;", "&"), timeout=60)
            assert opened.status_code == 200 and opened.url == f"{base}/clinician/", opened.url
            assert "ETMI clinician view" in opened.text

        ehr = urls["EHR FHIR base"].rsplit("/", 1)[0]
        for index in range(PATIENTS):
            patient = cohort_episode(index, SEED)["patient"]
            found = requests.get(f"{ehr}/Patient", params={"identifier": f"{patient['system']}|{patient['value']}"},
                                 headers={"Accept": "application/fhir+json"}, timeout=60).json()
            assert len(found.get("entry", [])) == 1, (index, found.get("total"))
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the demo's process group
        try:
            code = demo.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            raise
        finally:
            log.close()
            if demo.stdout is not None:
                demo.stdout.close()
    assert code == 130, (tmp_path / "demo.log").read_text()[-2000:]
    assert "demo: stopped" in (tmp_path / "demo.log").read_text()
    time.sleep(1)
    for url in (urls["landing page"], urls["EHR FHIR base"]):
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=5)
