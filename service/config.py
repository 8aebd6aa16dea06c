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
| ETMI_PUBLIC_BASE_URL | http://localhost | ``scheme://host[:port]`` of every link the service mints (not Host) |
| ETMI_AUTH_LEEWAY | 60 | seconds of clock skew allowed on a token's exp/nbf/iat (0-300) |
| ETMI_ALLOW_UNAUTHENTICATED_REMOTE | false | ``true``: ``none`` mode also answers non-loopback clients (dangerous) |
| ETMI_ID_KEY | (made once, kept in the database) | secret key of the Patient ids (HMAC-SHA256), 32+ characters |
| ETMI_CDS_CLIENTS | (empty) | CDS Clients trusted to call /cds-services: JSON {iss: JWKS URL or [URLs]}, or a file |
| ETMI_SMART_CLIENTS | (empty) | EHRs that may launch the clinician app (service/clinician): JSON file path or JSON |

``check()`` refuses unsafe or incomplete settings at start-up (``ConfigError`` naming the variable).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
AuthMode = Literal["jwt", "none"]
MAX_LEEWAY = 300


class ConfigError(ValueError):
    """Settings the service refuses to start with; the message names the variable."""


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes")


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
    ehr_base_url: str = ""  # one-target shorthand when sync_targets is empty (service.sync.targets.configured_targets)
    ehr_bearer_token: str = field(default="", repr=False)  # a secret
    sync_state_file: str = ""
    public_jwks: str = ""
    public_base_url: str = ""
    auth_leeway: int = 60
    allow_unauthenticated_remote: bool = False
    id_key: str = field(default="", repr=False)  # a secret: never in a repr or a log line
    cds_clients: str = ""  # parsed by service.adapters.cds_clients.parse_clients
    smart_clients: str = ""

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
            ehr_base_url=env.get("ETMI_EHR_BASE_URL", "").strip(),
            ehr_bearer_token=env.get("ETMI_EHR_BEARER_TOKEN", "").strip(),
            sync_state_file=env.get("ETMI_SYNC_STATE_FILE", ""),
            public_jwks=env.get("ETMI_PUBLIC_JWKS", ""),
            public_base_url=env.get("ETMI_PUBLIC_BASE_URL", "").strip().rstrip("/"),
            auth_leeway=_int(env, "ETMI_AUTH_LEEWAY", defaults.auth_leeway),
            allow_unauthenticated_remote=_flag(env.get("ETMI_ALLOW_UNAUTHENTICATED_REMOTE", "")),
            id_key=env.get("ETMI_ID_KEY", ""),
            cds_clients=env.get("ETMI_CDS_CLIENTS", ""),
            smart_clients=env.get("ETMI_SMART_CLIENTS", ""),
        )

    def check(self) -> None:
        """Raise ``ConfigError`` for settings the service must not start with (all problems at once)."""
        problems = []
        if self.auth_mode == "jwt" and not self.auth_audience:
            problems.append("ETMI_AUTH_AUDIENCE is required when ETMI_AUTH_MODE=jwt: set it to the public /fhir "
                            "base URL the access tokens are issued for (e.g. https://etmi.example/fhir)")
        if self.auth_mode == "jwt" and not self.auth_issuer:
            problems.append("ETMI_AUTH_ISSUER is required when ETMI_AUTH_MODE=jwt: the issuer of the access tokens")
        if self.public_base_url and public_origin(self.public_base_url) is None:
            problems.append(f"ETMI_PUBLIC_BASE_URL must be http(s)://host[:port] with no path, query or user "
                            f"(not {self.public_base_url!r})")
        if self.id_key and len(self.id_key) < 32:
            problems.append("ETMI_ID_KEY must be at least 32 characters (e.g. 64 hex digits of a random key)")
        if not 0 <= self.auth_leeway <= MAX_LEEWAY:
            problems.append(f"ETMI_AUTH_LEEWAY must be 0-{MAX_LEEWAY} seconds (not {self.auth_leeway})")
        if problems:
            raise ConfigError("; ".join(problems))


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (not {raw!r})") from None


def malloc_arena_max(environ: Mapping[str, str] | None = None) -> str:
    """glibc's ``MALLOC_ARENA_MAX`` as the operator set it ('' when unset): glibc applies it at process start,
    and ``etmi-fhir serve`` caps the arenas itself only without it (``service/commands/serve.py``)."""
    return (os.environ if environ is None else environ).get("MALLOC_ARENA_MAX", "").strip()


def public_origin(url: str) -> tuple[str, str] | None:
    """``(scheme, host[:port])`` of an origin URL like ``https://etmi.example``; None if it is not one."""
    try:
        parts = urlsplit(url.rstrip("/"))
        port = parts.port  # raises on a non-numeric port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path or parts.query or parts.fragment or port == 0:
        return None
    return parts.scheme, parts.netloc.lower()
