"""Structured JSON logs and the request id. Log records carry only whitelisted fields: never a body,
a name, free text, a token, or a URL path or query (the access log names the route template)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from flask import Flask, Response, g, request

FIELDS = ("event", "method", "path", "status", "duration_ms", "request_id", "resource_type", "resource_id",
          "version_id", "error_type", "count", "auth_mode", "outbox_id",
          # etmi-fhir worker: its start (targets, database without credentials, timing) and each push round
          "worker", "targets", "database", "threads", "idle_s", "pull_every_s", "claimed", "sent", "retried", "dead")
access = logging.getLogger("etmi.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname, "logger": record.name,
                               "msg": record.getMessage()}
        out.update({k: getattr(record, k) for k in FIELDS if hasattr(record, k)})
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__
        return orjson.dumps(out).decode()


def configure(level: str) -> None:
    root = logging.getLogger("etmi")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)


def _request_id() -> str:
    given = request.headers.get("X-Request-ID", "")
    return given if 0 < len(given) <= 64 and given.isascii() and given.replace("-", "").isalnum() else uuid.uuid4().hex


def install(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.request_id = _request_id()
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        if not access.isEnabledFor(logging.INFO):  # ETMI_LOG_LEVEL=WARNING: no access line to build
            return response
        took = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        extra = {"event": "request", "method": request.method, "path": route(), "status": response.status_code,
                 "duration_ms": round(took, 2), "request_id": g.get("request_id", "-")}
        access.info("request", extra=extra)
        return response


def route() -> str:
    """The matched route (``/fhir/<rtype>/<rid>``), never the requested path: ids, identifiers and
    query strings in URLs stay out of the logs (``request_id`` joins a log line to the audit trail)."""
    rule = request.url_rule
    return rule.rule if rule is not None else "(no route)"
