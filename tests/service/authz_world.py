"""A secured service with two patients' episodes and the tokens of the cross-patient matrix.

The issuer is a real JWKS server on loopback whose RSA key the test holds (like
``test_token_rejections.py``), so tests mint exactly the tokens they need: a ``patient/*.cruds`` token
for patient A and one for patient B, ``user/CarePlan.rs``, ``system/*.rs``, and ``user/*.cruds`` for
the writes that set the world up.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient

from service.app import create_app
from tests.service.conftest import EXAMPLE, make_settings

AUDIENCE = "https://etmi.test/fhir"
KID = "matrix-key"
TOKENS = {  # name -> (scope, patient claim: "A", "B" or None)
    "patient_a": ("launch/patient patient/*.cruds", "A"),
    "patient_b": ("launch/patient patient/*.cruds", "B"),
    "user_careplan": ("user/CarePlan.rs", None),
    "system": ("system/*.rs", None),
    "writer": ("user/*.cruds", None),
}


@dataclass
class Issuer:
    url: str
    key: rsa.RSAPrivateKey
    server: ThreadingHTTPServer

    def token(self, scope: str, patient: str | None = None, sub: str = "matrix-client") -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.url, "aud": AUDIENCE, "sub": sub, "scope": scope, "iat": now,
                                  "exp": now + 600, "client_id": "matrix-app"}
        if patient:
            claims["patient"] = patient
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})


def start_issuer() -> Issuer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/jwks" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Issuer(f"http://127.0.0.1:{server.server_address[1]}", key, server)


@dataclass
class World:
    app: Flask
    client: FlaskClient
    issuer: Issuer
    episodes: dict[str, dict[str, Any]]  # "A", "B" -> the stored payload
    patients: dict[str, str]  # "A", "B" -> local Patient id
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def get(self, url: str, who: str | None) -> Any:
        return self.client.get(url, headers=self.headers(who))

    def send(self, method: str, url: str, who: str | None, body: Any) -> Any:
        return self.client.open(url, method=method, json=body, headers=self.headers(who))

    def fhir(self, rtype: str, patient: str) -> dict[str, Any]:
        """Patient ``patient``'s current resource of type ``rtype`` (read with the system token)."""
        found = self.get(f"/fhir/{rtype}?_count=500", "system").get_json()
        for entry in found.get("entry", []):
            resource: dict[str, Any] = entry["resource"]
            owner = resource["id"] if rtype == "Patient" else resource.get("subject", {}).get("reference", "")
            if owner.removeprefix("Patient/") == self.patients[patient]:
                return resource
        raise AssertionError(f"no {rtype} of patient {patient}")


def episode_b(episode: dict[str, Any]) -> dict[str, Any]:
    other = copy.deepcopy(episode)
    other.update(episode_id="EP-MATRIX-B", patient={"system": episode["patient"]["system"], "value": "P-MATRIX-B"})
    return other


def build_world(tmp: Path) -> Iterator[World]:
    issuer = start_issuer()
    settings = make_settings(f"sqlite:///{tmp / 'etmi.db'}", auth_mode="jwt", auth_issuer=issuer.url,
                             auth_audience=AUDIENCE, auth_jwks_url=f"{issuer.url}/jwks")
    app = create_app(settings)
    client = app.test_client()
    first = json.loads(EXAMPLE.read_text())
    world = World(app, client, issuer, {"A": first, "B": episode_b(first)}, {})
    world.tokens["writer"] = issuer.token(*TOKENS["writer"], sub="sub-writer")
    for name, payload in world.episodes.items():
        response = world.send("POST", "/api/v1/episodes", "writer", payload)
        assert response.status_code == 201, response.get_data(as_text=True)
        world.patients[name] = response.get_json()["patient_id"]
    for name, (scope, patient) in TOKENS.items():
        world.tokens[name] = issuer.token(scope, world.patients[patient] if patient else None, sub=f"sub-{name}")
    try:
        yield world
    finally:
        app.extensions["etmi"].store.close()
        issuer.server.shutdown()
        issuer.server.server_close()
