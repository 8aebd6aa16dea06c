"""Settings from ``ETMI_*`` environment variables: the only module that reads ``os.environ``.

| Variable | Default | Meaning |
|---|---|---|
| ETMI_DATABASE_URL | sqlite:///var/etmi.db | SQLAlchemy URL; SQLite path relative to the working dir |
| ETMI_AUTH_MODE | jwt | ``jwt`` (bearer tokens) or ``none`` (dev only, logged loudly) |
| ETMI_AUTH_ISSUER | (empty) | issuer whose JWKS signs the access tokens |
| ETMI_AUTH_AUDIENCE | (empty) | expected ``aud`` (usually the public ``/fhir`` base URL) |
| ETMI_AUTH_JWKS_URL | issuer's ``jwks_uri`` | overrides JWKS discovery |
| ETMI_PROFILES_DIR | profiles/package | the ETMI implementation guide package |
| ETMI_R4_DEFINITIONS | .cache/r4 | FHIR R4 core definitions for the validator (filled by ``scripts/r4-definitions``) |
| ETMI_PAGE_SIZE | 50 | default ``_count`` of façade searches (max 500) |
| ETMI_AUTO_MIGRATE | true | run Alembic migrations at start-up |
| ETMI_LOG_LEVEL | INFO | log level of the JSON logs |
| ETMI_SYNC_TARGETS | (empty) | EHR targets for the sync workers: a JSON file path or inline JSON |
| ETMI_SYNC_STATE_FILE | (empty) | fallback file of the sync state (pull cursors, conflicts) |
| ETMI_PUBLIC_JWKS | (empty) | the service's public JWK Set (file path or inline JSON) at /.well-known/jwks.json |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
AuthMode = Literal["jwt", "none"]


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///var/etmi.db"
    auth_mode: AuthMode = "jwt"
    auth_issuer: str = ""
    auth_audience: str = ""
    auth_jwks_url: str = ""
    profiles_dir: Path = ROOT / "profiles" / "package"
    r4_definitions: Path = ROOT / ".cache" / "r4"
    page_size: int = 50
    auto_migrate: bool = True
    log_level: str = "INFO"
    sync_targets: str = ""
    sync_state_file: str = ""
    public_jwks: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls()
        mode = env.get("ETMI_AUTH_MODE", defaults.auth_mode).strip().lower()
        if mode not in ("jwt", "none"):
            raise ValueError(f"ETMI_AUTH_MODE must be 'jwt' or 'none', not {mode!r}")
        return cls(
            database_url=env.get("ETMI_DATABASE_URL", defaults.database_url),
            auth_mode="none" if mode == "none" else "jwt",
            auth_issuer=env.get("ETMI_AUTH_ISSUER", "").rstrip("/"),
            auth_audience=env.get("ETMI_AUTH_AUDIENCE", ""),
            auth_jwks_url=env.get("ETMI_AUTH_JWKS_URL", ""),
            profiles_dir=Path(env.get("ETMI_PROFILES_DIR", str(defaults.profiles_dir))),
            r4_definitions=Path(env.get("ETMI_R4_DEFINITIONS", str(defaults.r4_definitions))),
            page_size=int(env.get("ETMI_PAGE_SIZE", str(defaults.page_size))),
            auto_migrate=env.get("ETMI_AUTO_MIGRATE", "true").lower() not in ("0", "false", "no"),
            log_level=env.get("ETMI_LOG_LEVEL", defaults.log_level).upper(),
            sync_targets=env.get("ETMI_SYNC_TARGETS", ""),
            sync_state_file=env.get("ETMI_SYNC_STATE_FILE", ""),
            public_jwks=env.get("ETMI_PUBLIC_JWKS", ""),
        )
