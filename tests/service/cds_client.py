"""A CDS Client as an EHR runs one, for the CDS Hooks tests: an ES384 key pair, its JWK Set served over real HTTP
on 127.0.0.1, and the JWTs it signs for the service's ``patient-view`` endpoint."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from tests.servers.loopback import QuietHandler, serve, stop

ISS = "https://ehr.example.test"
SERVICE_PATH = "/cds-services/etmi-patient-view"
AUD = "http://localhost" + SERVICE_PATH  # the edge middleware's default public base URL


class Jwks:
    """An EHR's JWK Set served over HTTP on 127.0.0.1 (GET /jwks.json); counts the fetches."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        outer = self
        self.keys, self.fetches = keys, 0

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_body(200 if self.path == "/jwks.json" else 404, body)


        self.server, origin = serve(Handler)
        self.url = f"{origin}/jwks.json"

    def close(self) -> None:
        stop(self.server)


class Ehr:
    """A CDS Client: an ES384 key pair, its public JWKS served over HTTP, and the JWTs it signs."""

    def __init__(self, kid: str = "ehr-1") -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())
        self.kid = kid
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = Jwks([{**public, "kid": kid, "use": "sig", "alg": "ES384"}])

    def token(self, aud: str = AUD, key: Any = None, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISS, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()),
                  "tenant": "clinic-1", **overrides}
        headers = {"kid": self.kid, "typ": "JWT", **overrides.pop("headers", {})}
        claims.pop("headers", None)
        return jwt.encode(claims, key or self.key, algorithm="ES384", headers=headers)
