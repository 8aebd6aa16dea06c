"""FHIR REST client over ``requests``: the only code that talks HTTP to EHR servers.

Every failure leaves as one of the ``service.sync.ports.FhirError`` classes, classified once here:
429/503 → ``RetryableError`` carrying ``Retry-After``; other 5xx, timeouts, connection errors →
``RetryableError``; 409/412 → ``ConflictError``; 404/410 → ``NotFoundError``; 401/403 after one
fresh token → ``AuthError``; other 4xx → ``RejectedError`` with the server's OperationOutcome.
Bodies go out as the exact dicts given (orjson); ids, ETags and paging links are used verbatim, but an
absolute URL (a paging ``next`` link) is followed only under the target's own base URL (same scheme,
host, port and path prefix): any other raises ``ForeignLinkError`` before a request, so the
Authorization header never goes to another host (``requests`` drops it on a redirect to another host).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import SplitResult, unquote, urlencode, urljoin, urlsplit

import orjson
import requests

from service.sync.errors import classify
from service.sync.ports import (
    AuthError,
    FhirError,
    FhirResponse,
    Json,
    NotFoundError,
    RejectedError,
    RetryableError,
    TokenProvider,
)

FHIR_JSON = "application/fhir+json"
MAX_PAGES = 1000


class ForeignLinkError(FhirError):
    """A URL outside the target's base URL (e.g. a paging link to another host): never requested."""


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def under_base(base_url: str, url: str) -> bool:
    """True when ``url`` is ``base_url`` or below it (scheme, host and port equal; no ``..`` escape)."""
    try:
        base, other = urlsplit(base_url), urlsplit(url)
        if other.username or other.password or _origin(base) != _origin(other):
            return False
    except ValueError:
        return False
    if any(part in (".", "..") for part in unquote(other.path).split("/")):
        return False
    root, path = base.path.rstrip("/"), other.path.rstrip("/")
    return path == root or path.startswith(root + "/")


class RateLimiter:
    """At most ``per_second`` request starts per second (0: unlimited); thread-safe."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class FhirClient:
    """One FHIR base URL. Implements ``service.sync.ports.FhirServerPort``."""

    def __init__(
        self, base_url: str, auth: TokenProvider | None = None, timeout: tuple[float, float] = (5.0, 30.0),
        rate_limit: float = 0.0, session: requests.Session | None = None, limiter: RateLimiter | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self.limiter = limiter or RateLimiter(rate_limit)  # a shared limiter: one budget for several clients
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": FHIR_JSON, "User-Agent": "etmi-fhir-sync"})

    # -- transport ---------------------------------------------------------------------------
    def request(
        self, method: str, url: str, body: Json | None = None, headers: Mapping[str, str] | None = None,
    ) -> FhirResponse:
        if url.startswith("//") or urlsplit(url).scheme:  # absolute (a query may hold "http://" codes)
            if not under_base(self.base_url, url):
                raise ForeignLinkError(f"{method} refused: a URL outside the target's base URL (not followed)")
            full = url
        else:
            full = f"{self.base_url}/{url.lstrip('/')}" if url else self.base_url
        what = f"{method} {url.split('?')[0] or '[base]'}"
        for attempt in (1, 2):
            response = self._send(method, full, body, headers, what)
            if response.status_code == 401 and attempt == 1 and self.auth is not None:
                self.auth.invalidate()
                continue
            break
        payload = _json_body(response)
        hdrs = dict(response.headers)
        if 200 <= response.status_code < 300:
            return FhirResponse(response.status_code, payload, hdrs)
        raise classify(response.status_code, hdrs, payload, what)

    def _send(
        self, method: str, url: str, body: Json | None, headers: Mapping[str, str] | None, what: str,
    ) -> requests.Response:
        hdrs = dict(headers or {})
        if body is not None:
            hdrs["Content-Type"] = FHIR_JSON
        if self.auth is not None:
            value = self.auth.authorization()
            if value:
                hdrs["Authorization"] = value
        data = orjson.dumps(body) if body is not None else None
        self.limiter.wait()
        try:
            return self.session.request(method, url, data=data, headers=hdrs, timeout=self.timeout)
        except requests.Timeout as exc:
            # the server may still be working on it: retrying sooner would race the original request
            # (two conditional creates at once can both create; hapi-fhir #3141)
            raise RetryableError(f"{what}: timeout ({type(exc).__name__})", retry_after=self.timeout[1]) from exc
        except requests.ConnectionError as exc:
            raise RetryableError(f"{what}: connection error ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            raise RetryableError(f"{what}: {type(exc).__name__}") from exc

    # -- interactions --------------------------------------------------------------------------
    def capabilities(self) -> Json:
        return self.request("GET", "metadata").body or {}

    def smart_configuration(self) -> Json | None:
        try:
            return self.request("GET", ".well-known/smart-configuration").body
        except (NotFoundError, RejectedError, AuthError):
            return None

    def read(self, resource_type: str, resource_id: str) -> FhirResponse:
        return self.request("GET", f"{resource_type}/{resource_id}")

    def search(self, resource_type: str, params: Mapping[str, str]) -> Iterator[Json]:
        url: str | None = f"{resource_type}?{urlencode(dict(params))}" if params else resource_type
        pages = 0
        while url and pages < MAX_PAGES:
            bundle = self.request("GET", url).body or {}
            pages += 1
            for entry in bundle.get("entry", []):
                mode = entry.get("search", {}).get("mode", "match")
                if mode == "match" and "resource" in entry:
                    yield entry["resource"]
            nxt = next((link.get("url") for link in bundle.get("link", []) if link.get("relation") == "next"), None)
            url = urljoin(self.base_url + "/", nxt) if nxt else None

    def create(self, resource: Json, if_none_exist: str | None = None) -> FhirResponse:
        headers = {"If-None-Exist": if_none_exist} if if_none_exist else None
        return self.request("POST", resource["resourceType"], resource, headers)

    def update(self, resource: Json, if_match: str | None = None, condition: str | None = None) -> FhirResponse:
        rtype = resource["resourceType"]
        path = f"{rtype}?{condition}" if condition else f"{rtype}/{resource['id']}"
        headers = {"If-Match": if_match} if if_match else None
        return self.request("PUT", path, resource, headers)

    def delete(self, resource_type: str, resource_id: str) -> FhirResponse:
        return self.request("DELETE", f"{resource_type}/{resource_id}")

    def transaction(self, bundle: Json) -> FhirResponse:
        return self.request("POST", "", bundle)


def _json_body(response: requests.Response) -> Json | None:
    if not response.content:
        return None
    try:
        value: Any = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
