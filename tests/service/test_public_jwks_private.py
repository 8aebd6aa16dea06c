"""``ETMI_PUBLIC_JWKS`` publishes public keys only: private or secret key members refuse start-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.app import create_app
from service.config import ConfigError
from tests.service.conftest import make_settings


def _private_jwks() -> dict[str, Any]:
    rsa_private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048)))
    return {"keys": [{**rsa_private, "kid": "r1"}]}


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi"])
def test_a_private_rsa_member_refuses_start_up(tmp_path: Path, member: str) -> None:
    private = _private_jwks()["keys"][0]
    public = {k: private[k] for k in ("kty", "n", "e", "kid")}
    jwks = {"keys": [{**public, member: private[member]}]}
    with pytest.raises(ConfigError, match=rf"ETMI_PUBLIC_JWKS: keys\[0\] holds private .*\b{member}\b"):
        create_app(make_settings(f"sqlite:///{tmp_path / 'e.db'}", public_jwks=json.dumps(jwks)))


def test_private_ec_key_from_a_file_and_secret_keys_refuse_start_up(tmp_path: Path) -> None:
    ec_private = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [ec_private]}))
    with pytest.raises(ConfigError, match="private or secret key material"):
        create_app(make_settings(f"sqlite:///{tmp_path / 'e.db'}", public_jwks=str(path)))
    secret = {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}
    with pytest.raises(ConfigError, match=r"\bk\b"):
        create_app(make_settings(f"sqlite:///{tmp_path / 'e.db'}", public_jwks=json.dumps(secret)))
    with pytest.raises(ConfigError, match="JWK Set"):
        create_app(make_settings(f"sqlite:///{tmp_path / 'e.db'}", public_jwks='{"kty": "EC"}'))


def test_a_public_jwks_is_served_as_given(tmp_path: Path) -> None:
    private = _private_jwks()["keys"][0]
    jwks = {"keys": [{k: private[k] for k in ("kty", "n", "e", "kid")}]}
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'e.db'}", public_jwks=json.dumps(jwks)))
    try:
        response = app.test_client().get("/.well-known/jwks.json")
        assert response.get_json() == jwks
        assert response.headers["Cache-Control"] == "public, max-age=300"
    finally:
        app.extensions["etmi"].store.close()
