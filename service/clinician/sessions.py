"""Server-side state of the clinician app: pending launches (by ``state``) and signed-in sessions.

The browser holds only an opaque random session id (cookie ``HttpOnly``, ``SameSite=Lax``, ``Secure``
on HTTPS); tokens stay here. Every gunicorn worker of one host shares the state: one file per entry in
a private directory (0700; files 0600, named by the SHA-256 of the id, so a file name is no session id),
encrypted (Fernet) with a key derived from the deployment's Patient id key (HKDF, its own label), written
atomically. A launch's ``state`` is taken once (an atomic rename: one worker wins). An entry's file time
is its last use; entries older than their time limit are deleted. Hosts behind one load balancer need
sticky sessions (each host has its own directory).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LAUNCH_TTL = 600.0  # seconds between the launch and the callback
SESSION_TTL = 8 * 3600.0  # an idle session ends after this
MAX_ENTRIES = 10_000


@dataclass
class PendingLaunch:
    iss: str
    client_id: str
    verifier: str
    token_url: str


@dataclass
class AppSession:
    iss: str
    client_id: str
    token_url: str
    patient: str
    tokens: dict[str, Any]
    expires_at: float  # wall-clock time the access token expires
    created: float = field(default_factory=time.time)


def session_key(secret: bytes) -> bytes:
    """The Fernet key of the session files, derived from the deployment's secret (key separation)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"etmi clinician sessions v1").derive(secret)
    return base64.urlsafe_b64encode(derived)


def default_directory(secret: bytes) -> Path:
    """One directory per deployment secret under the system temp dir (workers of one host share it)."""
    tag = hashlib.sha256(b"etmi-clinician-dir" + secret).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"etmi-clinician-{tag}"


class SessionStore:
    def __init__(self, secret: bytes, directory: Path | None = None, launch_ttl: float = LAUNCH_TTL,
                 session_ttl: float = SESSION_TTL) -> None:
        self.launch_ttl, self.session_ttl = launch_ttl, session_ttl
        self._fernet = Fernet(session_key(secret))
        self.directory = directory or default_directory(secret)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    # -- files -------------------------------------------------------------------------------
    def _path(self, kind: str, secret_id: str) -> Path:
        return self.directory / f"{kind}-{hashlib.sha256(secret_id.encode()).hexdigest()}"

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._fernet.encrypt(json.dumps(data).encode()))
        os.replace(tmp, path)

    def _read(self, path: Path, ttl: float) -> dict[str, Any] | None:
        try:
            if time.time() - path.stat().st_mtime > ttl:
                path.unlink(missing_ok=True)
                return None
            data: dict[str, Any] = json.loads(self._fernet.decrypt(path.read_bytes()))
            return data
        except (OSError, InvalidToken, ValueError):
            return None

    def _entries(self) -> Iterator[os.DirEntry[str]]:
        with os.scandir(self.directory) as found:
            yield from (e for e in found if e.name.startswith(("l-", "s-")))

    def _sweep(self) -> int:
        now, kept = time.time(), 0
        for entry in self._entries():
            ttl = self.launch_ttl if entry.name.startswith("l-") else self.session_ttl
            try:
                if now - entry.stat().st_mtime > ttl:
                    os.unlink(entry.path)
                else:
                    kept += 1
            except OSError:
                continue
        return kept

    # -- launches ------------------------------------------------------------------------------
    def start_launch(self, launch: PendingLaunch) -> str:
        if self._sweep() >= MAX_ENTRIES:
            raise OverflowError("too many launches and sessions")
        state = secrets.token_urlsafe(32)
        self._write(self._path("l", state), asdict(launch))
        return state

    def take_launch(self, state: str) -> PendingLaunch | None:
        """The launch of this ``state``, once (a second use or an unknown state: None)."""
        path = self._path("l", state)
        taken = path.with_name(f".taken-{secrets.token_hex(8)}")
        try:
            os.rename(path, taken)  # atomic: of two callbacks with one state, one wins
        except OSError:
            return None
        data = self._read(taken, self.launch_ttl)
        taken.unlink(missing_ok=True)
        return PendingLaunch(**data) if data else None

    # -- sessions ------------------------------------------------------------------------------
    def create(self, session: AppSession) -> str:
        if self._sweep() >= MAX_ENTRIES:
            raise OverflowError("too many launches and sessions")
        sid = secrets.token_urlsafe(32)
        self._write(self._path("s", sid), asdict(session))
        return sid

    def get(self, sid: str | None) -> AppSession | None:
        if not sid:
            return None
        path = self._path("s", sid)
        data = self._read(path, self.session_ttl)
        if data is None:
            return None
        os.utime(path)  # last use
        return AppSession(**data)

    def save(self, sid: str, session: AppSession) -> None:
        """Keep a changed session (new tokens after a refresh)."""
        self._write(self._path("s", sid), asdict(session))

    def end(self, sid: str | None) -> None:
        if sid:
            self._path("s", sid).unlink(missing_ok=True)

    def expire_tokens(self) -> int:
        """Mark every session's access token expired (tests, and an operator forcing refreshes)."""
        n = 0
        for entry in list(self._entries()):
            data = self._read(Path(entry.path), self.session_ttl) if entry.name.startswith("s-") else None
            if data is not None:
                data["expires_at"] = 0.0
                self._write(Path(entry.path), data)
                n += 1
        return n

    def expire_all(self) -> int:
        """End every session (tests, and an operator signing everybody out); the number ended."""
        n = 0
        for entry in list(self._entries()):
            if entry.name.startswith("s-"):
                Path(entry.path).unlink(missing_ok=True)
                n += 1
        return n

    def tokens(self) -> list[str]:
        """Every token value held now (tests check none reaches the browser; never log them)."""
        out: list[str] = []
        for entry in list(self._entries()):
            data = self._read(Path(entry.path), self.session_ttl) if entry.name.startswith("s-") else None
            out.extend(str(v) for v in (data or {}).get("tokens", {}).values())
        return out
