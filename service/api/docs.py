"""``/api/v1/docs``: Swagger UI served by the service itself (no CDN), from the ``flask-swagger-ui`` package.

The page loads only same-origin files: the packaged ``swagger-ui-bundle.js`` and ``swagger-ui.css``
and a small start script (no inline script), so its Content-Security-Policy allows ``'self'`` only.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response

from service.errors import ApiError

DIST = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "favicon-32x32.png": "image/png", "favicon-16x16.png": "image/png"}
PREFIX = "/api/v1/docs"
SPEC = "/api/v1/openapi.json"
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>ETMI API</title>
  <link rel="icon" type="image/png" href="{PREFIX}/favicon-32x32.png">
  <link rel="stylesheet" href="{PREFIX}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{PREFIX}/swagger-ui-bundle.js"></script>
  <script src="{PREFIX}/start.js"></script>
</body>
</html>
"""
START = f'window.ui = SwaggerUIBundle({{url: "{SPEC}", dom_id: "#swagger-ui", deepLinking: true}});\n'

bp = Blueprint("docs", __name__)


def _page(body: str, mimetype: str, cache: str) -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Security-Policy": DOCS_CSP, "Cache-Control": cache})


@bp.get(PREFIX)
def page() -> Response:
    return _page(PAGE, "text/html", "no-store")


@bp.get(f"{PREFIX}/start.js")
def start() -> Response:
    return _page(START, "text/javascript", "public, max-age=3600")


@bp.get(f"{PREFIX}/<name>")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise ApiError(404, f"no such documentation asset: {name}")
    return Response(_read(name), mimetype=ASSETS[name],
                    headers={"Cache-Control": "public, max-age=86400"})


@cache
def _read(name: str) -> bytes:
    return (DIST / name).read_bytes()
