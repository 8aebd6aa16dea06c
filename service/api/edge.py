"""What every request and response goes through: the public base URL, the loopback guard, security headers.

- Links are minted from ``ETMI_PUBLIC_BASE_URL`` (default ``http://localhost``): the WSGI environ's host
  and scheme are overwritten before Flask sees the request, so ``request.host_url``, ``url_root`` and
  ``url_for(_external=True)`` never echo a client's ``Host`` or ``X-Forwarded-*`` header.
- ``ETMI_AUTH_MODE=none`` answers loopback clients only unless ``ETMI_ALLOW_UNAUTHENTICATED_REMOTE=true``.
- Every response: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``, a
  Content-Security-Policy (none loads anything unless the view set its own), ``Cache-Control: no-store``
  unless the view declared a public resource, and HSTS when the public base URL is https.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request

from service.config import Settings, public_origin
from service.errors import ApiError

log = logging.getLogger("etmi.app")

DEFAULT_BASE = "http://localhost"
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000"
LOOPBACK = frozenset({"127.0.0.1", "::1"})
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class PublicBase:
    """WSGI middleware: the request's scheme and host are the configured public origin's."""

    def __init__(self, app: WSGIApp, base_url: str) -> None:
        origin = public_origin(base_url)
        if origin is None:
            raise ValueError(f"not an origin URL: {base_url!r}")
        self.app = app
        self.scheme, self.netloc = origin
        parts = urlsplit(base_url)
        self.server_name = parts.hostname or ""
        self.server_port = str(parts.port or (443 if self.scheme == "https" else 80))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for forwarded in [k for k in environ if k.startswith("HTTP_X_FORWARDED_")] + ["HTTP_FORWARDED"]:
            environ.pop(forwarded, None)
        environ.update({"HTTP_HOST": self.netloc, "SERVER_NAME": self.server_name,
                        "SERVER_PORT": self.server_port, "wsgi.url_scheme": self.scheme})
        return self.app(environ, start_response)


def is_loopback(address: str | None) -> bool:
    """127.0.0.0/8, ::1 (and IPv4-mapped forms); an empty address is a Unix socket, local too."""
    if not address or address in LOOPBACK:  # the usual answers without parsing the address
        return True
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def install(app: Flask, settings: Settings) -> None:
    base = settings.public_base_url or DEFAULT_BASE
    if not settings.public_base_url:
        log.warning("ETMI_PUBLIC_BASE_URL is not set: links the service mints start with %s", DEFAULT_BASE,
                    extra={"event": "public_base_url_default"})
    app.wsgi_app = PublicBase(app.wsgi_app, base)  # type: ignore[method-assign]
    https = base.startswith("https://")
    guard = settings.auth_mode == "none" and not settings.allow_unauthenticated_remote

    if settings.auth_mode == "none" and settings.allow_unauthenticated_remote:
        log.warning("ETMI_ALLOW_UNAUTHENTICATED_REMOTE=true: unauthenticated reads and writes from ANY network "
                    "client", extra={"event": "auth_disabled_remote"})

    @app.before_request
    def loopback_only() -> None:
        if guard and not is_loopback(request.remote_addr):
            raise ApiError(403, "ETMI_AUTH_MODE=none answers loopback clients only "
                                "(set ETMI_ALLOW_UNAUTHENTICATED_REMOTE=true to allow others)")

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers["X-Content-Type-Options"] = "nosniff"
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Content-Security-Policy", API_CSP)
        if "public" not in headers.get("Cache-Control", ""):
            headers["Cache-Control"] = "no-store"
        if https:
            headers["Strict-Transport-Security"] = HSTS
        return response
