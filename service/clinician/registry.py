"""The EHRs that may launch the clinician app (``ETMI_SMART_CLIENTS``: a JSON file path or inline JSON).

    [{"name": "Clinic EHR", "client_id": "etmi-app", "issuers": ["https://ehr.example/fhir"],
      "scope": "launch openid fhirUser patient/*.rs", "target": "hapi",
      "frame_origins": ["https://ehr.example"]}]

``issuers`` are the FHIR base URLs (the ``iss`` of a launch) accepted for this client; an ``iss`` not
listed anywhere is refused before any request. ``target`` names the sync target (ETMI_SYNC_TARGETS) that
sends to this EHR, so the dashboard can say what is not synced yet. ``frame_origins`` are the origins
allowed to show the app in an iframe (``frame-ancestors``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.config import ConfigError, public_origin

DEFAULT_SCOPE = "launch openid fhirUser patient/*.rs"
STANDALONE_SCOPE = "launch/patient openid fhirUser patient/*.rs"


@dataclass(frozen=True)
class RegisteredEhr:
    name: str
    client_id: str
    issuers: tuple[str, ...]
    scope: str = DEFAULT_SCOPE
    target: str | None = None
    frame_origins: tuple[str, ...] = ()


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"ETMI_SMART_CLIENTS: {where} must be a list of non-empty strings")
    return tuple(v.rstrip("/") for v in value)


def _one(raw: Any, index: int) -> RegisteredEhr:
    where = f"[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("client_id"), str) or not raw["client_id"]:
        raise ConfigError(f"ETMI_SMART_CLIENTS: {where}.client_id is required")
    issuers = _strings(raw.get("issuers"), f"{where}.issuers")
    if not issuers or not all(i.startswith(("https://", "http://")) for i in issuers):
        raise ConfigError(f"ETMI_SMART_CLIENTS: {where}.issuers must be http(s) FHIR base URLs")
    origins = _strings(raw.get("frame_origins", []), f"{where}.frame_origins")
    if any(public_origin(o) is None for o in origins):
        raise ConfigError(f"ETMI_SMART_CLIENTS: {where}.frame_origins must be origins (scheme://host[:port])")
    scope, target = raw.get("scope", DEFAULT_SCOPE), raw.get("target")
    if not isinstance(scope, str) or not scope.strip() or (target is not None and not isinstance(target, str)):
        raise ConfigError(f"ETMI_SMART_CLIENTS: {where}.scope and .target must be strings")
    return RegisteredEhr(name=str(raw.get("name") or issuers[0]), client_id=raw["client_id"], issuers=issuers,
                         scope=" ".join(scope.split()), target=target, frame_origins=origins)


def parse_clients(value: str) -> tuple[RegisteredEhr, ...]:
    """The registered EHRs; ``ConfigError`` naming the entry for anything malformed."""
    text = value.strip()
    if not text:
        return ()
    if not text.startswith(("[", "{")):
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"ETMI_SMART_CLIENTS: cannot read the file ({exc.strerror})") from None
    try:
        raw = json.loads(text)
    except ValueError:
        raise ConfigError("ETMI_SMART_CLIENTS is not valid JSON") from None
    items = raw if isinstance(raw, list) else [raw]
    return tuple(_one(item, i) for i, item in enumerate(items))


class Registry:
    def __init__(self, clients: tuple[RegisteredEhr, ...]) -> None:
        self.clients = clients

    def for_issuer(self, iss: str) -> RegisteredEhr | None:
        wanted = iss.rstrip("/")
        return next((c for c in self.clients if wanted in c.issuers), None)

    def frame_origins(self) -> tuple[str, ...]:
        return tuple(sorted({o for c in self.clients for o in c.frame_origins}))
