"""A simulated EHR for tests and demos: an app-tab launcher page and a FHIR endpoint in front of HAPI.

Not product code. The page picks a patient and launches the app the way an EHR's app tab does
(``{app}?iss={this EHR's FHIR base}&launch={id}``, the launch id registered at the SMART authorization
server's ``/admin/launches``). ``/fhir/*`` relays to the upstream FHIR server (HAPI) when the request
carries a bearer token whose audience is this FHIR base and which has not expired (the signature is not
checked: test server only), and serves ``/fhir/.well-known/smart-configuration`` from the authorization
server. Upstream URLs in answers are rewritten to this base so paging links stay here.

Env: PORT, HOST, FHIR_UPSTREAM (e.g. HAPI's base), SMART_ISSUER, APP_LAUNCH_URL (default app launch URL;
the page's ``app`` parameter overrides it). Prints its base URL on a line of its own when ready.
"""

from __future__ import annotations

import base64
import html
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = os.environ["FHIR_UPSTREAM"].rstrip("/")
ISSUER = os.environ["SMART_ISSUER"].rstrip("/")
APP = os.environ.get("APP_LAUNCH_URL", "")
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "server", "date"}


def call(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def claims(authorization: str) -> dict[str, object]:
    if not authorization.startswith("Bearer "):
        return {}
    try:
        payload = authorization[7:].split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (IndexError, ValueError):
        return {}


class Handler(BaseHTTPRequestHandler):
    server_version = "ehr-launcher"

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.command} {self.path.split('?')[0]}\n")

    def send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if parts.path == "/":
            self.page(query)
        elif parts.path == "/launch":
            self.launch(query)
        elif parts.path == "/frame":
            self.frame(query)
        elif parts.path == "/fhir/.well-known/smart-configuration":
            status, _, body = call("GET", f"{ISSUER}/.well-known/smart-configuration")
            self.send(status, body, "application/json")
        elif parts.path.startswith("/fhir"):
            self.relay()
        else:
            self.send(404, b"not found", "text/plain")

    def relay(self) -> None:
        token = claims(self.headers.get("Authorization", ""))
        if token.get("aud") != self.base + "/fhir" or not isinstance(token.get("exp"), int) \
                or int(token["exp"]) < time.time():
            body = json.dumps({"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "login", "diagnostics": "a bearer token for this EHR is required"}]})
            self.send(401, body.encode(), "application/fhir+json", {"WWW-Authenticate": "Bearer"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "content-type", "if-match")}
        status, answer_headers, body = call(self.command, UPSTREAM + self.path[len("/fhir"):], data, headers)
        body = body.replace(UPSTREAM.encode(), (self.base + "/fhir").encode())
        extra = {k: v for k, v in answer_headers.items() if k.lower() not in HOP and k.lower() != "content-type"}
        self.send(status, body, answer_headers.get("Content-Type", "application/fhir+json"), extra)

    do_POST = do_PUT = do_DELETE = relay

    def page(self, query: dict[str, str]) -> None:
        app = html.escape(query.get("app", APP))
        status, _, body = call("GET", f"{UPSTREAM}/Patient?_count=10&_sort=-_lastUpdated&_elements=identifier",
                               headers={"Accept": "application/fhir+json"})
        patients = [e["resource"] for e in json.loads(body).get("entry", [])] if status == 200 else []
        options = "".join(
            f'<li><a href="/launch?patient={html.escape(p["id"])}&amp;app={urllib.parse.quote(query.get("app", APP))}">'
            f'Patient/{html.escape(p["id"])}</a></li>' for p in patients)
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Simulated EHR</title></head>
<body><main><h1>Simulated EHR: app tab</h1>
<form action="/launch" method="get"><label>Patient id <input name="patient" id="patient"></label>
<input type="hidden" name="app" value="{app}"><button type="submit" id="open-app">Open ETMI view</button></form>
<h2>Recent patients</h2><ul>{options}</ul></main></body></html>"""
        self.send(200, page.encode(), "text/html; charset=utf-8")

    def frame(self, query: dict[str, str]) -> None:
        """The app inside the EHR's own page (an iframe), as EHRs that embed apps show them (``src``: any URL)."""
        src = html.escape(query["src"] if "src" in query else "/launch?" + urllib.parse.urlencode(query))
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Simulated EHR chart</title></head>
<body><main><h1>Simulated EHR: chart with embedded app</h1>
<iframe id="app" title="ETMI view" src="{src}" width="1000" height="700"></iframe></main></body></html>"""
        self.send(200, page.encode(), "text/html; charset=utf-8")

    def launch(self, query: dict[str, str]) -> None:
        patient, app = query.get("patient", ""), query.get("app", APP)
        status, _, body = call("POST", f"{ISSUER}/admin/launches", json.dumps({"patient": patient}).encode(),
                               {"Content-Type": "application/json"})
        if status != 201 or not app:
            self.send(400, b"launch not registered, or no app URL", "text/plain")
            return
        launch_id = json.loads(body)["launch"]
        target = app + "?" + urllib.parse.urlencode({"iss": self.base + "/fhir", "launch": launch_id})
        self.send(302, b"", "text/plain", {"Location": target})


def main() -> None:
    server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "0"))), Handler)
    host, port = server.server_address[:2]
    base = f"http://{host}:{port}"
    status, _, body = call("POST", f"{ISSUER}/admin/audiences", json.dumps({"audience": base + "/fhir"}).encode(),
                           {"Content-Type": "application/json"})
    if status != 201:
        sys.exit(f"the SMART server refused the audience: {status} {body[:200]!r}")
    print(base, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
