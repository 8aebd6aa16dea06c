"""EHR targets: where to push and pull, how to authenticate, how hard to push.

A targets file is TOML or JSON with a list ``targets`` (or a table of tables keyed by name)::

    [[targets]]
    name = "hapi"
    base_url = "http://127.0.0.1:8080/fhir"
    mode = "transaction"              # transaction | batch | individual
    max_entries = 50                  # transaction size limit of the target (Medplum: 8)
    batch_size = 20                   # outbox rows claimed per round (one row per patient write)
    lease_seconds = 120               # a claim's lease, renewed during long sends; above connect + read timeout
    rate_limit = 20                   # requests per second (0: unlimited), shared by a worker's threads
    concurrency = 4                   # requests in flight at once from one worker process (1-16)
    timeout = [5, 30]                 # connect, read seconds
    push_types = ["Condition", "CarePlan", ...]
    pull_types = ["CarePlan", "Goal"]
    auth = { kind = "smart-backend", client_id = "etmi", private_key_file = "key.pem", kid = "k1",
             alg = "ES384", scope = "system/*.cruds" }
    conflicts = { Goal = "hold" }

``configured_targets(settings)`` is how the service and the commands take targets: ``ETMI_SYNC_TARGETS``
(``Settings.sync_targets``: a file path or inline JSON, read by ``targets_from_spec``), else the one-target
shorthand ``ETMI_EHR_BASE_URL`` (+ ``ETMI_EHR_BEARER_TOKEN``): one target named ``default`` with every
other setting at its default (its transaction size is learned, ``chunking.py``). The same in inline JSON:
``ETMI_SYNC_TARGETS='{"targets": {"default": {"base_url": "https://ehr.example/fhir"}}}'``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from service.config import Settings

ETMI_TYPES: tuple[str, ...] = (
    "Patient", "Condition", "CarePlan", "Goal", "Procedure", "QuestionnaireResponse", "Observation", "Provenance",
)
PUSH_TYPES: tuple[str, ...] = tuple(t for t in ETMI_TYPES if t != "Provenance")
AuthKind = Literal["none", "basic", "bearer", "smart-backend"]
Mode = Literal["transaction", "batch", "individual"]
SHORTHAND_NAME = "default"


class TargetConfigError(ValueError):
    """The targets configuration is wrong; the message names the target and the key."""


@dataclass(frozen=True)
class AuthConfig:
    kind: AuthKind = "none"
    username: str | None = None
    password: str | None = None
    token: str | None = None
    client_id: str | None = None
    token_url: str | None = None
    private_key_file: str | None = None
    private_key_pem: str | None = None
    kid: str | None = None
    alg: str = "ES384"
    scope: str = "system/*.cruds"
    jku: str | None = None
    resource: str | None = None


@dataclass(frozen=True)
class Target:
    name: str
    base_url: str
    auth: AuthConfig = field(default_factory=AuthConfig)
    mode: Mode = "transaction"
    max_entries: int = 50
    batch_size: int = 10
    rate_limit: float = 0.0
    timeout: tuple[float, float] = (5.0, 30.0)
    push_types: tuple[str, ...] = PUSH_TYPES
    pull_types: tuple[str, ...] = ("CarePlan", "Goal")
    conflicts: Mapping[str, str] = field(default_factory=dict)
    client_ids: bool = True
    max_attempts: int = 10
    backoff_base: float = 2.0
    backoff_cap: float = 600.0
    lease_seconds: float = 120.0
    pull_overlap_seconds: float = 300.0
    page_size: int = 50
    concurrency: int = 4  # one worker's requests in flight to this target (its push threads: the largest)


MAX_CONCURRENCY = 16  # a small EHR must not see more than this from one worker process
_INT_KEYS = ("max_entries", "batch_size", "max_attempts", "page_size", "concurrency")
_FLOAT_KEYS = ("rate_limit", "backoff_base", "backoff_cap", "lease_seconds", "pull_overlap_seconds")


def parse_target(name: str, raw: Mapping[str, Any]) -> Target:
    """One target from its table; unknown keys are an error (a typo must not pass silently)."""
    known = set(Target.__dataclass_fields__) - {"name"}
    unknown = set(raw) - known - {"name"}
    if unknown:
        raise TargetConfigError(f"target {name!r}: unknown keys {sorted(unknown)}")
    if not raw.get("base_url"):
        raise TargetConfigError(f"target {name!r}: base_url is required")
    kwargs: dict[str, Any] = {"name": name, "base_url": str(raw["base_url"]).rstrip("/")}
    if "auth" in raw:
        kwargs["auth"] = _parse_auth(name, raw["auth"])
    mode = raw.get("mode", "transaction")
    if mode not in ("transaction", "batch", "individual"):
        raise TargetConfigError(f"target {name!r}: mode must be transaction, batch or individual")
    kwargs["mode"] = mode
    for key in _INT_KEYS:
        if key in raw:
            kwargs[key] = int(raw[key])
    for key in _FLOAT_KEYS:
        if key in raw:
            kwargs[key] = float(raw[key])
    if "timeout" in raw:
        t = raw["timeout"]
        kwargs["timeout"] = (float(t), float(t)) if isinstance(t, int | float) else (float(t[0]), float(t[1]))
    for key in ("push_types", "pull_types"):
        if key in raw:
            kwargs[key] = _types(name, key, raw[key])
    if "conflicts" in raw:
        kwargs["conflicts"] = {str(k): str(v) for k, v in dict(raw["conflicts"]).items()}
    if "client_ids" in raw:
        kwargs["client_ids"] = bool(raw["client_ids"])
    if kwargs.get("max_entries", 50) < 2:
        raise TargetConfigError(f"target {name!r}: max_entries must be at least 2")
    if not 1 <= kwargs.get("concurrency", 4) <= MAX_CONCURRENCY:
        raise TargetConfigError(f"target {name!r}: concurrency must be between 1 and {MAX_CONCURRENCY}")
    return Target(**kwargs)


def _types(name: str, key: str, value: Any) -> tuple[str, ...]:
    types = tuple(str(v) for v in value)
    bad = [t for t in types if t not in ETMI_TYPES]
    if bad:
        raise TargetConfigError(f"target {name!r}: {key} has types ETMI does not exchange: {bad}")
    return types


def _parse_auth(name: str, raw: Mapping[str, Any]) -> AuthConfig:
    fields = set(AuthConfig.__dataclass_fields__)
    unknown = set(raw) - fields
    if unknown:
        raise TargetConfigError(f"target {name!r}: unknown auth keys {sorted(unknown)}")
    values: dict[str, Any] = {k: str(v) for k, v in raw.items()}
    auth = AuthConfig(**values)
    if auth.kind not in ("none", "basic", "bearer", "smart-backend"):
        raise TargetConfigError(f"target {name!r}: auth.kind must be none, basic, bearer or smart-backend")
    if auth.kind == "basic" and not (auth.username and auth.password is not None):
        raise TargetConfigError(f"target {name!r}: basic auth needs username and password")
    if auth.kind == "bearer" and not auth.token:
        raise TargetConfigError(f"target {name!r}: bearer auth needs token")
    if auth.kind == "smart-backend":
        if not auth.client_id or not (auth.private_key_file or auth.private_key_pem):
            raise TargetConfigError(f"target {name!r}: smart-backend needs client_id and a private key")
        if auth.alg not in ("RS384", "ES384"):
            raise TargetConfigError(f"target {name!r}: smart-backend alg must be RS384 or ES384")
    return auth


def parse_targets(doc: Mapping[str, Any]) -> list[Target]:
    raw = doc.get("targets", [])
    items: list[tuple[str, Mapping[str, Any]]]
    if isinstance(raw, Mapping):
        items = [(str(k), v) for k, v in raw.items()]
    else:
        items = [(str(t.get("name") or f"target{i + 1}"), t) for i, t in enumerate(raw)]
    targets = [parse_target(n, t) for n, t in items]
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise TargetConfigError(f"duplicate target names: {names}")
    return targets


def load_targets(path: str | Path) -> list[Target]:
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    doc = json.loads(text) if p.suffix == ".json" or text.lstrip().startswith("{") else tomllib.loads(text)
    return parse_targets(doc)


def targets_from_spec(spec: str) -> list[Target]:
    """The targets of an ``ETMI_SYNC_TARGETS`` value: inline JSON, a file path, or nothing."""
    spec = spec.strip()
    if spec.startswith("{"):
        return parse_targets(json.loads(spec))
    return load_targets(spec) if spec else []


def shorthand_targets(base_url: str, bearer_token: str = "") -> list[Target]:
    """The target of ``ETMI_EHR_BASE_URL`` (+ ``ETMI_EHR_BEARER_TOKEN``), named ``default``; none without a URL."""
    if not base_url.strip():
        return []
    auth = {"kind": "bearer", "token": bearer_token} if bearer_token else {"kind": "none"}
    return [parse_target(SHORTHAND_NAME, {"base_url": base_url.strip(), "auth": auth})]


def configured_targets(settings: Settings) -> list[Target]:
    """``ETMI_SYNC_TARGETS`` when it names targets, else the ``ETMI_EHR_BASE_URL`` shorthand."""
    return targets_from_spec(settings.sync_targets) or shorthand_targets(settings.ehr_base_url,
                                                                         settings.ehr_bearer_token)


def targets_from_env(env: Mapping[str, str]) -> list[Target]:
    """``configured_targets`` of an environment mapping."""
    return configured_targets(Settings.from_env(env))
