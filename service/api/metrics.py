"""``/metrics`` (Prometheus text format), the per-route request metrics, and database outages as 503.

- The outbox series are read from the database at scrape time (``OutboxCollector``), so every
  service process and every worker process reports the same numbers: nothing is kept in memory.
- Request rate, latency and errors per route come from Flask request hooks, labelled by the route
  *rule* (``/api/v1/episodes/<episode_id>``), never the raw path. Under gunicorn with
  ``PROMETHEUS_MULTIPROC_DIR`` set, prometheus-client's multiprocess mode sums every worker's files;
  without it each scrape sees the answering worker's counts only (``docs/operations.md``).
- ``/metrics`` answers loopback clients only, and never a proxied request (one carrying
  ``Forwarded``/``X-Forwarded-For``): the outbox depth per EHR is operational detail, not for the public.
- A database that cannot be reached (``OperationalError``, ``InterfaceError``, a pool timeout) is a
  503 OperationOutcome with ``Retry-After``, not a 500; the pool's pre-ping reconnects when it is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from mappings.errors import Issue
from service.api.edge import is_loopback
from service.fhir.errors import error_response
from service.store import UNREACHABLE, Store, StoreError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RETRY_AFTER_S = 5  # seconds a client waits before retrying while the database is unreachable
WAITING = ("pending", "failed", "in-flight")  # not yet on the EHR: what "oldest pending" looks at
PROXIED = "etmi.proxied"  # WSGI environ key: the request carried forwarding headers
ALL_TARGETS = "*"  # the label of rows written for every configured target (target NULL)

HTTP = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("etmi_http_requests", "HTTP requests answered, by route rule, method and status",
                   ["route", "method", "status"], registry=HTTP)
LATENCY = Histogram("etmi_http_request_duration_seconds", "Time to answer a request, by route rule and method",
                    ["route", "method"], registry=HTTP,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

WORKER = CollectorRegistry(auto_describe=True)  # `etmi-fhir worker --metrics-port`: this worker process only
PUSH_ROUND = Histogram("etmi_sync_push_round_seconds", "One push round of a worker thread: claim a batch, send it "
                       "to the EHR(s), record the outcome", registry=WORKER,
                       buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0))
PUSHED = Counter("etmi_sync_push_entries", "Outbox entries a worker finished, by result (sent, retried, dead)",
                 ["result"], registry=WORKER)
PULL = Histogram("etmi_sync_pull_seconds", "One pull of EHR edits over every target, by result (ok, error)",
                 ["result"], registry=WORKER, buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0))
RESTARTS = Counter("etmi_worker_restarts", "Loop restarts of a worker after an unexpected exception (push: backed off, "
                   "the worker exits non-zero after --max-restarts in --restart-window; pull: next pull as usual)",
                   ["loop"], registry=WORKER)
TARGET_DOWN = Gauge("etmi_sync_target_down", "1 while this worker's breaker for the EHR target is open (no answer to "
                    "the last requests: one probe at a time, nothing dead-lettered)", ["target"], registry=WORKER)

bp = Blueprint("metrics", __name__)
DB_ERRORS = UNREACHABLE  # the database cannot be reached now: 503 with Retry-After


class OutboxCollector(Collector):
    """Outbox gauges read from the database on every scrape (a down database: ``etmi_database_up 0``)."""

    def __init__(self, store: Store, target_names: Sequence[str] = ()) -> None:
        self._store = store
        self._targets = tuple(target_names)

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("etmi_database_up", "1 when the database answered this scrape's queries")
        try:
            families = self._families()
        except StoreError:
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]

    def _families(self) -> list[Metric]:
        entries = GaugeMetricFamily("etmi_outbox_entries", "Outbox entries by EHR target and status",
                                    labels=["target", "status"])
        retries = GaugeMetricFamily("etmi_outbox_retries", "Attempts beyond the first, summed over the outbox "
                                    "entries of a target and status", labels=["target", "status"])
        dead = GaugeMetricFamily("etmi_outbox_dead_letters", "Dead-lettered outbox entries (need an operator: "
                                 "`etmi-fhir sync status`, `sync replay`)", labels=["target"])
        oldest = GaugeMetricFamily("etmi_outbox_oldest_pending_age_seconds", "Age of the oldest entry not yet "
                                   "on the EHR (pending, failed awaiting retry, or in flight); 0 when none",
                                   labels=["target"])
        dead_by: dict[str, int] = {name: 0 for name in self._targets}
        oldest_by: dict[str, float] = {name: 0.0 for name in self._targets}
        now = self._now()
        for target, status, count, retried, first in self._store.outbox.gauges():
            label = ALL_TARGETS if target is None else target
            entries.add_metric([label, status], count)
            retries.add_metric([label, status], retried)
            dead_by.setdefault(label, 0)  # every target seen gets a series, 0 included (alerts need one)
            oldest_by.setdefault(label, 0.0)
            if status == "dead":
                dead_by[label] = dead_by.get(label, 0) + count
            if status in WAITING and first is not None:
                oldest_by[label] = max(oldest_by.get(label, 0.0), max(0.0, (now - first).total_seconds()))
        for label, n in sorted(dead_by.items()):
            dead.add_metric([label], n)
        for label, age in sorted(oldest_by.items()):
            oldest.add_metric([label], age)
        return [entries, retries, dead, oldest]

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as the store keeps created_at


def multiprocess() -> bool:
    """prometheus-client chose its multiprocess value class (``PROMETHEUS_MULTIPROC_DIR`` is set)."""
    return values.ValueClass is not values.MutexValue


def exposition(*collectors: Collector) -> bytes:
    """The request metrics (every gunicorn worker's in multiprocess mode) and the given collectors."""
    if multiprocess():
        own = CollectorRegistry()
        MultiProcessCollector(own)  # type: ignore[no-untyped-call]
        text = generate_latest(own)
    else:
        text = generate_latest(HTTP)
    extra = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        extra.register(collector)
    return text + generate_latest(extra)


@bp.get("/metrics")
def metrics() -> Response:
    if not is_loopback(request.remote_addr) or request.environ.get(PROXIED):
        issue = Issue("error", "forbidden", "/metrics answers loopback clients only (scrape it on the host, "
                                            "or through the worker's --metrics-port)", "")
        return error_response(403, [issue])
    collector: OutboxCollector = current_app.extensions["etmi.metrics"]
    return Response(exposition(collector), 200, content_type=CONTENT_TYPE)


def _start() -> None:
    g.metrics_started = time.perf_counter()


#: The per-route series children, looked up once per label set (``labels()`` takes a lock and checks its labels on
#: every call); bounded by the routes x methods x statuses the app answers.
_LATENCY: dict[tuple[str, str], Any] = {}
_REQUESTS: dict[tuple[str, str, int], Any] = {}


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    if rule == "/metrics":
        return response
    method, status = request.method, response.status_code
    if started is not None:
        latency = _LATENCY.get((rule, method))
        if latency is None:
            latency = _LATENCY.setdefault((rule, method), LATENCY.labels(rule, method))
        latency.observe(time.perf_counter() - started)
    counter = _REQUESTS.get((rule, method, status))
    if counter is None:
        counter = _REQUESTS.setdefault((rule, method, status), REQUESTS.labels(rule, method, str(status)))
    counter.inc()
    return response


def database_unavailable(exc: Exception) -> Response:
    """503 + Retry-After for a database that does not answer; the statement and URL are never shown."""
    current_app.logger.warning("database unavailable", extra={"event": "database_unavailable",
                                                             "error_type": type(exc).__name__})
    issue = Issue("error", "transient", "the database is unavailable; retry later", "")
    return error_response(503, [issue], {"Retry-After": str(RETRY_AFTER_S)})


class _MarkProxied:
    """Outermost WSGI middleware: remembers that a request came through a proxy (``Forwarded`` or
    ``X-Forwarded-*``) before ``service.api.edge`` drops those headers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[PROXIED] = any(k == "HTTP_FORWARDED" or k.startswith("HTTP_X_FORWARDED_") for k in environ)
        result: Iterable[bytes] = self.app(environ, start_response)
        return result


def install(app: Flask, store: Store, target_names: Sequence[str] = ()) -> None:
    """``/metrics``, the request hooks and the 503 handler for database outages (after ``edge.install``:
    the proxy mark must be taken before edge drops the forwarding headers)."""
    app.wsgi_app = _MarkProxied(app.wsgi_app)  # type: ignore[method-assign]
    app.extensions["etmi.metrics"] = OutboxCollector(store, target_names)
    app.before_request(_start)
    app.after_request(_observe)
    for kind in DB_ERRORS:
        app.register_error_handler(kind, database_unavailable)
    app.register_blueprint(bp)


def serve_worker_metrics(port: int, store: Store, target_names: Sequence[str]) -> Callable[[], None]:
    """``/metrics`` of a worker process on 127.0.0.1:``port`` (its push/pull histograms and the outbox
    gauges); returns the function that stops the server."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(WORKER)
    registry.register(OutboxCollector(store, target_names))
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop
