"""Server-side state of the clinician app: pending launches (by ``state``) and signed-in sessions.

The browser holds only an opaque random session id (cookie ``HttpOnly``, ``SameSite=Lax``, ``Secure``
on HTTPS); tokens stay here. Kept in the process's memory with a time limit: one service process
(gunicorn ``--workers 1`` or sticky sessions); a restart signs everybody out.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

LAUNCH_TTL = 600.0  # seconds between the launch and the callback
SESSION_TTL = 8 * 3600.0  # an idle session ends after this
MAX_ENTRIES = 10_000


@dataclass
class PendingLaunch:
    iss: str
    client_id: str
    verifier: str
    token_url: str
    created: float = field(default_factory=time.monotonic)


@dataclass
class AppSession:
    iss: str
    client_id: str
    token_url: str
    patient: str
    tokens: dict[str, Any]
    expires_at: float  # monotonic time the access token expires
    touched: float = field(default_factory=time.monotonic)


class SessionStore:
    def __init__(self, launch_ttl: float = LAUNCH_TTL, session_ttl: float = SESSION_TTL) -> None:
        self.launch_ttl, self.session_ttl = launch_ttl, session_ttl
        self._launches: dict[str, PendingLaunch] = {}
        self._sessions: dict[str, AppSession] = {}
        self._lock = threading.Lock()

    def _sweep(self, now: float) -> None:
        for state in [k for k, v in self._launches.items() if now - v.created > self.launch_ttl]:
            del self._launches[state]
        for sid in [k for k, v in self._sessions.items() if now - v.touched > self.session_ttl]:
            del self._sessions[sid]

    def start_launch(self, launch: PendingLaunch) -> str:
        state = secrets.token_urlsafe(32)
        with self._lock:
            self._sweep(time.monotonic())
            if len(self._launches) >= MAX_ENTRIES:
                raise OverflowError("too many launches in progress")
            self._launches[state] = launch
        return state

    def take_launch(self, state: str) -> PendingLaunch | None:
        """The launch of this ``state``, once (a second use or an unknown state: None)."""
        with self._lock:
            self._sweep(time.monotonic())
            return self._launches.pop(state, None)

    def create(self, session: AppSession) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sweep(time.monotonic())
            if len(self._sessions) >= MAX_ENTRIES:
                raise OverflowError("too many sessions")
            self._sessions[sid] = session
        return sid

    def get(self, sid: str | None) -> AppSession | None:
        if not sid:
            return None
        with self._lock:
            now = time.monotonic()
            self._sweep(now)
            found = self._sessions.get(sid)
            if found is not None:
                found.touched = now
            return found

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    def active(self) -> list[AppSession]:
        """The sessions signed in now (tests and operators; holds tokens: never log them)."""
        with self._lock:
            return list(self._sessions.values())

    def expire_all(self) -> int:
        """End every session (tests and an operator's sign-out of everyone); the number ended."""
        with self._lock:
            n = len(self._sessions)
            self._sessions.clear()
            return n
