"""A small client of the service's own ``/api/v1`` (``etmi-fhir generate --api``, the demo).

Each episode is one ``POST /api/v1/episodes``; retries never duplicate (the service is idempotent on
``episode_id``). Bounded: every request has a timeout; a connection failure is retried a few times.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests


class ApiRefused(RuntimeError):
    """The service answered an episode with an error (its OperationOutcome's first diagnostics)."""


class EpisodeApi:
    """POSTs episode payloads to ``{base}/api/v1/episodes``."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.url = base_url.rstrip("/") + "/api/v1/episodes"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def post(self, payload: Mapping[str, Any], attempts: int = 3) -> int:
        """The status code (200/201); ``ApiRefused`` for a 4xx/5xx, ``ConnectionError`` when unreachable."""
        for attempt in range(attempts):
            try:
                response = self.session.post(self.url, json=payload, timeout=self.timeout)
            except requests.RequestException as err:
                if attempt == attempts - 1:
                    raise ConnectionError(f"{self.url}: {type(err).__name__}") from None
                time.sleep(1 + attempt)
                continue
            if response.status_code >= 400:
                raise ApiRefused(f"{response.status_code} for episode {payload.get('episode_id')}: "
                                 f"{_first_problem(response)}")
            return response.status_code
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.session.close()


def _first_problem(response: requests.Response) -> str:
    try:
        issues = response.json().get("issue", [])
    except ValueError:
        return response.reason or "no OperationOutcome"
    first = issues[0] if issues else {}
    where = ", ".join(first.get("expression", []))
    return f"{first.get('diagnostics', first.get('code', '?'))}" + (f" ({where})" if where else "")
