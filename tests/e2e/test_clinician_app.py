"""End to end: the clinician app launched from the simulated EHR in headless Chromium (issue 14).

The service syncs the example episode to HAPI; the simulated EHR (tests/servers/ehr-launcher) launches the
app with the SMART authorization server; the page must show what HAPI holds, follow an edit made in HAPI,
and refuse unknown issuers, a bad state and an ended session with their own page.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.clinician_support import FHIR_JSON, ROOT, Stack, axe_source, chromium, clinician_stack

pytestmark = [pytest.mark.hapi, pytest.mark.smart, pytest.mark.slow]
BAD_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="module")
def stack(hapi_url: str, smart_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with clinician_stack(hapi_url, smart_url, tmp_path_factory.mktemp("clinician")) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


def launch(browser: webdriver.Chrome, stack: Stack) -> None:
    """The EHR's app tab: pick the patient, open the app, sign in (the test server signs in by itself)."""
    browser.delete_all_cookies()
    browser.get(stack.launcher_url + "/")
    browser.find_element(By.ID, "patient").send_keys(stack.remote_patient)
    browser.find_element(By.ID, "open-app").click()
    WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.ID, "patient-name")))
    assert browser.current_url == f"{stack.app_url}/clinician/"


def shown_values(browser: webdriver.Chrome, measure: str) -> list[float]:
    cells = browser.find_elements(By.CSS_SELECTOR, f'[data-measure="{measure}"] td.value')
    return [float(c.text) for c in cells]


def hapi_values(stack: Stack, code: str) -> list[float]:
    found = stack.hapi_search(f"Observation?patient={stack.remote_patient}&code={code}&_count=100")
    dated = sorted((str(o["effectiveDateTime"]), float(o["valueQuantity"]["value"])) for o in found)
    return [value for _, value in dated]


def page_kind(browser: webdriver.Chrome) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, "section.message").get_attribute("data-kind"))


def test_dashboard_shows_what_hapi_holds(stack: Stack, browser: webdriver.Chrome) -> None:
    launch(browser, stack)
    assert browser.find_element(By.ID, "patient-name").text == "Alex Sample"  # the EHR's name, not ours
    procedures = stack.hapi_search(f"Procedure?patient={stack.remote_patient}&_count=100")
    assert int(browser.find_element(By.ID, "session-count").text) == len(procedures) == 3
    function = hapi_values(stack, "function-0-100")
    assert shown_values(browser, "function") == function == [48.5, 67.0]
    assert shown_values(browser, "pain") == hapi_values(stack, "http://loinc.org|72514-3")
    assert shown_values(browser, "fear") == hapi_values(stack, "fear-avoidance-0-100")
    card = browser.find_element(By.CSS_SELECTOR, '[data-measure="function"]')
    assert card.get_attribute("data-verdict") == "improved"  # +18.5 >= the MCID of 5
    assert browser.find_element(By.CSS_SELECTOR, '[data-measure="pain"]').get_attribute("data-verdict") \
        == "no threshold"
    stages = browser.find_element(By.ID, "stages").text
    assert "Contemplation" in stages and "Action" in stages
    activity = browser.find_element(By.CSS_SELECTOR, '[data-measure="activity"]')
    goals = stack.hapi_search(f"Goal?patient={stack.remote_patient}")
    assert float(activity.find_element(By.CLASS_NAME, "goal-value").text) \
        == goals[0]["target"][0]["detailQuantity"]["value"] == 150
    assert float(activity.find_element(By.CLASS_NAME, "last").text) == hapi_values(stack, "82290-8")[-1] == 150
    assert "goal met" in activity.text
    screens = [e.get_attribute("data-screen") for e in browser.find_elements(By.CSS_SELECTOR, "[data-screen]")]
    assert screens == ["GAD-2"]  # GAD-2 = 3 (positive), PHQ-2 = 1 (negative) in the example
    assert browser.find_elements(By.ID, "unsent") == []


def test_pending_outbox_rows_are_announced(stack: Stack, browser: webdriver.Chrome) -> None:
    from tests.sync.support import enqueue_resource
    launch(browser, stack)
    enqueue_resource(stack.store, {"resourceType": "Basic", "id": "clinician-e2e"}, stack.local_patient)
    browser.refresh()
    notice = WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.ID, "unsent")))
    assert "1 update" in notice.text


def axe_violations(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    browser.execute_script(axe_source())
    result: list[dict[str, Any]] = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e)}]));")
    return [v for v in result if v.get("impact") in BAD_IMPACTS]


@pytest.mark.parametrize(("name", "width"), [("desktop", 1280), ("narrow", 375)])
def test_dashboard_accessibility_and_screenshots(stack: Stack, browser: webdriver.Chrome, name: str,
                                                 width: int) -> None:
    launch(browser, stack)
    browser.set_window_size(width, 900)
    bad = axe_violations(browser)
    assert not bad, [(v["id"], v["impact"], v.get("help")) for v in bad]
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"horizontal scroll of {overflow}px at {width}px"
    if os.environ.get("ETMI_UPDATE_SCREENSHOTS"):
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(width, int(height) + 120)
        out = ROOT / "docs" / "screenshots" / f"clinician-dashboard-{name}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_bytes(browser.get_screenshot_as_png())
    browser.set_window_size(1280, 900)


def test_an_edit_made_in_hapi_appears_after_a_reload(stack: Stack, browser: webdriver.Chrome) -> None:
    launch(browser, stack)
    found = stack.hapi_search(f"Observation?patient={stack.remote_patient}&code=function-0-100")
    latest = max(found, key=lambda o: str(o["effectiveDateTime"]))
    latest["valueQuantity"]["value"] = 51.25
    put = requests.put(f"{stack.hapi_url}/Observation/{latest['id']}", json=latest, headers=FHIR_JSON, timeout=60)
    assert put.status_code == 200, put.text
    browser.refresh()
    WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.ID, "patient-name")))
    assert shown_values(browser, "function") == [48.5, 51.25]
    card = browser.find_element(By.CSS_SELECTOR, '[data-measure="function"]')
    assert card.get_attribute("data-verdict") == "no meaningful change"  # +2.75 < 5


def test_unknown_issuer_is_refused_with_its_page(stack: Stack, browser: webdriver.Chrome) -> None:
    url = f"{stack.app_url}/clinician/launch?iss=https%3A%2F%2Fehr.invalid%2Ffhir&launch=abc"
    browser.get(url)
    assert page_kind(browser) == "unknown-iss"
    assert "not registered" in browser.find_element(By.TAG_NAME, "h1").text
    bad = axe_violations(browser)  # the refusal pages pass the same accessibility check
    assert not bad, [(v["id"], v["impact"]) for v in bad]
    assert requests.get(url, timeout=10).status_code == 403


def test_bad_state_is_refused_with_its_page(stack: Stack, browser: webdriver.Chrome) -> None:
    url = f"{stack.app_url}/clinician/callback?code=abc&state=not-a-state-we-issued"
    browser.get(url)
    assert page_kind(browser) == "bad-state"
    assert requests.get(url, timeout=10).status_code == 400


def test_ended_session_shows_its_page_and_refresh_keeps_a_live_one(stack: Stack, browser: webdriver.Chrome) -> None:
    launch(browser, stack)
    assert stack.clinician.sessions.expire_tokens() >= 1  # the refresh token must get a new access token
    browser.refresh()
    WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.ID, "patient-name")))
    assert stack.clinician.sessions.expire_all() >= 1
    browser.refresh()
    assert page_kind(browser) == "expired"
    assert browser.find_elements(By.ID, "patient-name") == []


def test_no_token_or_session_state_reaches_the_browser(stack: Stack, browser: webdriver.Chrome) -> None:
    launch(browser, stack)
    # cookies are per host, not per port: the authorization server's (path /) share 127.0.0.1
    cookies = [c for c in browser.get_cookies() if c["path"] == "/clinician"]
    tokens = stack.clinician.sessions.tokens()
    assert [c["name"] for c in cookies] == ["etmi_clinician"]  # the state cookie is gone
    session_cookie = cookies[0]
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Lax"
    assert not any(t in session_cookie["value"] or t in browser.page_source for t in tokens if len(t) > 16)
    storage = browser.execute_script("return JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
    assert storage == "{}{}"


def test_the_app_opens_inside_the_registered_ehrs_iframe_only(stack: Stack, browser: webdriver.Chrome) -> None:
    browser.delete_all_cookies()
    browser.get(f"{stack.launcher_url}/frame?patient={stack.remote_patient}")
    browser.switch_to.frame(browser.find_element(By.ID, "app"))
    WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.ID, "patient-name")))
    browser.switch_to.default_content()
    # one of the app's pages framed by the registered origin, then by another (localhost, not 127.0.0.1)
    page = urllib.parse.quote(f"{stack.app_url}/clinician/launch?iss=https://x.invalid/fhir&launch=1", safe="")
    for origin, shown in ((stack.launcher_url, 1), (stack.launcher_url.replace("127.0.0.1", "localhost"), 0)):
        browser.get(f"{origin}/frame?src={page}")
        browser.switch_to.frame(browser.find_element(By.ID, "app"))
        if shown:
            WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, "section.message")))
        else:
            time.sleep(2)  # a refused frame stays empty: give a wrongly allowed page the time to appear
        assert len(browser.find_elements(By.CSS_SELECTOR, "section.message")) == shown, origin
        browser.switch_to.default_content()
    browser.switch_to.default_content()


def test_keyboard_and_print(stack: Stack, browser: webdriver.Chrome) -> None:
    launch(browser, stack)
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("class") == "skip"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    assert browser.switch_to.active_element.get_attribute("id") == "main"
    summaries = browser.find_elements(By.TAG_NAME, "summary")
    assert summaries, "no questionnaires shown"
    for _ in range(60):  # Tab reaches the first questionnaire; Enter opens it
        browser.switch_to.active_element.send_keys(Keys.TAB)
        if browser.switch_to.active_element.tag_name == "summary":
            break
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    assert browser.find_element(By.TAG_NAME, "details").get_attribute("open") is not None
    assert "Pain intensity now" in browser.find_element(By.CSS_SELECTOR, "details dl").text
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not browser.find_element(By.CSS_SELECTOR, "header.top").is_displayed()
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_standalone_launch_from_the_ehr_picker(stack: Stack, browser: webdriver.Chrome) -> None:
    """Standalone: the app's page lists the EHRs; the authorization server picks the patient (this test
    server always picks its DEFAULT_PATIENT, ``example-patient``, made here in HAPI if missing)."""
    url = f"{stack.hapi_url}/Patient/example-patient"
    found = requests.get(url, headers=FHIR_JSON, timeout=60)
    if found.status_code != 200:
        made = requests.put(url, json={"resourceType": "Patient", "id": "example-patient",
                                       "name": [{"text": "Standalone Example"}]}, headers=FHIR_JSON, timeout=60)
        assert made.status_code in (200, 201), made.text
        found = requests.get(url, headers=FHIR_JSON, timeout=60)
    browser.delete_all_cookies()
    browser.get(f"{stack.app_url}/clinician/standalone")
    browser.find_element(By.LINK_TEXT, "Simulated EHR").click()
    name = WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.ID, "patient-name")))
    names = found.json().get("name", [])
    expected = names[0].get("text") or " ".join([*names[0].get("given", []), names[0].get("family", "")]) \
        if names else "Name not recorded"
    assert name.text == expected.strip()


def test_a_launch_for_a_patient_the_ehr_does_not_hold_gets_its_page(stack: Stack, browser: webdriver.Chrome) -> None:
    browser.delete_all_cookies()
    browser.get(f"{stack.launcher_url}/launch?patient=no-such-patient-{stack.local_patient[:8]}")
    WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, "section.message")))
    assert page_kind(browser) == "no-patient"
