"""The clinician app without servers: configuration, verdicts, the dashboard model, and every refusal page.

The browser tests (tests/e2e/test_clinician_app.py) run the whole launch against real servers; these
check what those cannot reach cheaply: a refused consent, malformed configuration, an unreachable EHR.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from flask import Flask

from mappings.bundle import episode_resources
from mappings.payload import episode_from_json
from service.app import create_app
from service.clinician import dashboard, measures
from service.clinician.flow import pkce_pair, standalone_scope
from service.clinician.pages import EXTENSION, STATE_COOKIE, ClinicianState
from service.clinician.registry import parse_clients
from service.clinician.sessions import AppSession, PendingLaunch, SessionStore
from service.config import ConfigError, Settings
from service.ig import load_package

ROOT = Path(__file__).resolve().parents[2]
EHR = "http://127.0.0.1:9/fhir"  # discard port: nothing answers
CLIENTS = [{"name": "Test EHR", "client_id": "app-1", "issuers": [EHR], "frame_origins": ["https://ehr.example"]}]


@pytest.fixture()
def app(tmp_path: Path) -> Flask:
    made = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'etmi.db'}", auth_mode="none",
                               public_base_url="http://localhost", smart_clients=json.dumps(CLIENTS)))
    state: ClinicianState = made.extensions[EXTENSION]
    state._sessions = SessionStore(b"t" * 32, tmp_path / "sessions")  # not the shared temp dir
    return made


def kind(body: str) -> str:
    return body.split('data-kind="', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize(("raw", "named"), [
    ('[{"issuers": ["https://e/fhir"]}]', "[0].client_id"),
    ('[{"client_id": "a", "issuers": []}]', "[0].issuers"),
    ('[{"client_id": "a", "issuers": ["ftp://e"]}]', "[0].issuers"),
    ('[{"client_id": "a", "issuers": ["https://e/fhir"], "frame_origins": ["https://e/path"]}]', "frame_origins"),
    ("[{", "not valid JSON"),
])
def test_malformed_registrations_are_refused_naming_the_entry(raw: str, named: str) -> None:
    with pytest.raises(ConfigError, match="ETMI_SMART_CLIENTS") as caught:
        parse_clients(raw)
    assert named in str(caught.value)


def test_registration_defaults_and_lookup() -> None:
    (ehr,) = parse_clients(json.dumps(CLIENTS))
    assert ehr.scope == "launch openid fhirUser patient/*.rs" and ehr.target is None
    assert standalone_scope(ehr.scope) == "launch/patient openid fhirUser patient/*.rs"


def test_pkce_is_s256() -> None:
    verifier, challenge = pkce_pair()
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == digest and 43 <= len(verifier) <= 128


@pytest.mark.parametrize(("first", "last", "expected"), [
    (48, 53, "improved"), (48, 52.9, "no meaningful change"), (48, 43, "worse"), (48, 43.1, "no meaningful change"),
])
def test_function_verdict_uses_the_mcid_of_5(first: float, last: float, expected: str) -> None:
    assert measures.verdict(measures.FUNCTION, first, last) == expected


def test_no_verdict_where_no_threshold_is_claimed() -> None:
    assert measures.verdict(measures.PAIN, 8, 1) == "no threshold"
    assert measures.verdict(measures.FEAR, 80, 10) == "no threshold"


def test_dashboard_model_of_the_example_episode() -> None:
    payload = json.loads((ROOT / "examples" / "episode.json").read_text(encoding="utf-8"))
    resources = episode_resources(episode_from_json(payload), load_package().questionnaires())
    by_type: dict[str, list[dict[str, object]]] = {}
    for r in resources:
        by_type.setdefault(str(r["resourceType"]), []).append(dict(r))
    board = dashboard.build(by_type)  # type: ignore[arg-type]
    assert len(board.sessions) == 3
    assert [p.value for p in board.trends[0].points] == [48.5, 67.0] and board.trends[0].verdict == "improved"
    assert [p.value for p in board.trends[1].points] == [6.0, 5.0, 3.0]  # two pains on day one, in time order
    assert board.activity_goal == 150.0 and board.activity[-1].value == 150.0
    assert [(s[0], s[3]) for s in board.screens] == [("PHQ-2", False), ("GAD-2", True)]
    assert dashboard.stage_move(board.stages) == "forward"


def test_pages_refuse_with_their_own_page_never_a_trace(app: Flask) -> None:
    client = app.test_client()
    cases = [("/clinician/launch", 400, "bad-launch"),
             ("/clinician/launch?iss=https://other.example/fhir&launch=x", 403, "unknown-iss"),
             (f"/clinician/launch?iss={EHR}&launch=x", 502, "ehr-unavailable"),
             ("/clinician/callback?code=x&state=nope", 400, "bad-state"),
             ("/clinician/", 401, "expired")]
    for url, status, expected in cases:
        response = client.get(url)
        body = response.get_data(as_text=True)
        assert (response.status_code, kind(body)) == (status, expected), url
        assert response.mimetype == "text/html" and "Traceback" not in body


def test_a_refused_consent_has_its_page_and_the_state_is_used_once(app: Flask) -> None:
    state_obj: ClinicianState = app.extensions[EXTENSION]
    state = state_obj.sessions.start_launch(PendingLaunch(EHR, "app-1", "v", "http://127.0.0.1:9/token"))
    client = app.test_client()
    client.set_cookie(STATE_COOKIE, state, path="/clinician")
    refused = client.get(f"/clinician/callback?error=access_denied&state={state}")
    assert (refused.status_code, kind(refused.get_data(as_text=True))) == (403, "refused")
    again = client.get(f"/clinician/callback?error=access_denied&state={state}")
    assert kind(again.get_data(as_text=True)) == "bad-state"


def test_a_state_without_its_browser_cookie_is_refused(app: Flask) -> None:
    state_obj: ClinicianState = app.extensions[EXTENSION]
    state = state_obj.sessions.start_launch(PendingLaunch(EHR, "app-1", "v", "http://127.0.0.1:9/token"))
    response = app.test_client().get(f"/clinician/callback?code=x&state={state}")
    assert kind(response.get_data(as_text=True)) == "bad-state"


def test_headers_frame_ancestors_and_logout(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/clinician/standalone")
    assert page.status_code == 200 and "Test EHR" in page.get_data(as_text=True)
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors https://ehr.example" in policy and "default-src 'none'" in policy
    with client.get("/clinician/static/clinician.css") as css:
        assert css.status_code == 200 and "public" in css.headers["Cache-Control"]
    out = client.post("/clinician/logout")
    assert kind(out.get_data(as_text=True)) == "signed-out"
    cookie = out.headers["Set-Cookie"]
    assert "etmi_clinician=;" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_without_registered_ehrs_no_page_may_be_framed(tmp_path: Path) -> None:
    bare = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'e.db'}", auth_mode="none",
                               public_base_url="https://etmi.example"))
    response = bare.test_client().get("/clinician/launch?iss=https://x.example/fhir&launch=1")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.status_code == 403


def test_sessions_are_shared_by_workers_encrypted_and_taken_once(tmp_path: Path) -> None:
    secret = b"k" * 32
    worker_a, worker_b = SessionStore(secret, tmp_path), SessionStore(secret, tmp_path)
    state = worker_a.start_launch(PendingLaunch(EHR, "app-1", "verifier-1", "http://t/token"))
    taken = worker_b.take_launch(state)
    assert taken is not None and taken.verifier == "verifier-1"
    assert worker_a.take_launch(state) is None  # once
    sid = worker_a.create(AppSession(EHR, "app-1", "http://t/token", "p1", {"access_token": "tok-secret"}, 0.0))
    got = worker_b.get(sid)
    assert got is not None and got.patient == "p1"
    files = list(tmp_path.iterdir())
    assert all(sid not in f.name and b"tok-secret" not in f.read_bytes() for f in files)
    assert SessionStore(b"other" * 8, tmp_path).get(sid) is None  # another deployment's key reads nothing
    old = time.time() - 9 * 3600
    for f in files:
        os.utime(f, (old, old))
    assert worker_b.get(sid) is None  # idle longer than the session time limit


def test_an_unreachable_ehr_on_the_dashboard_gets_its_page(app: Flask) -> None:
    state: ClinicianState = app.extensions[EXTENSION]
    sid = state.sessions.create(AppSession(EHR, "app-1", "http://127.0.0.1:9/token", "p-gone",
                                           {"access_token": "t"}, time.time() + 300))
    client = app.test_client()
    client.set_cookie("etmi_clinician", sid, path="/clinician")
    response = client.get("/clinician/")  # nothing listens at the EHR: unavailable, not a trace
    assert (response.status_code, kind(response.get_data(as_text=True))) == (502, "ehr-unavailable")


def test_cookies_are_secure_when_the_service_is_https(tmp_path: Path) -> None:
    secure = create_app(Settings(database_url=f"sqlite:///{tmp_path / 's.db'}", auth_mode="none",
                                 public_base_url="https://etmi.example", smart_clients=json.dumps(CLIENTS)))
    cookie = secure.test_client().post("/clinician/logout").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/clinician" in cookie
    # an EHR origin is registered for an iframe: a Lax cookie would not reach the app inside it
    assert "SameSite=None" in cookie and "Partitioned" in cookie


def test_https_without_frame_origins_keeps_lax_cookies(tmp_path: Path) -> None:
    plain = [{**CLIENTS[0], "frame_origins": []}]
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}", auth_mode="none",
                              public_base_url="https://etmi.example", smart_clients=json.dumps(plain)))
    cookie = app.test_client().post("/clinician/logout").headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie and "Secure" in cookie and "Partitioned" not in cookie
