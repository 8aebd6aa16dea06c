"""What every request goes through, done once where it can be (Session 20, bench/profiles/ingest.md). Not timed.

- The per-route series: ``labels()`` once per label set, then the kept child; every request still counted.
- The access log: nothing built when it is not logged (ETMI_LOG_LEVEL=WARNING); one line per request at INFO.
- The loopback check: the usual addresses without parsing, the same verdict as parsing for every address.
"""

from __future__ import annotations

import ipaddress
import logging

import pytest
from flask.testing import FlaskClient
from prometheus_client import generate_latest

from service.api import edge, logs, metrics


def _count(route: str, method: str, status: str) -> float:
    value = metrics.HTTP.get_sample_value("etmi_http_requests_total",
                                          {"route": route, "method": method, "status": status})
    return value or 0.0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_route_series_are_looked_up_once_and_count_every_request(client: FlaskClient,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    for family in (metrics.LATENCY, metrics.REQUESTS):
        real = family.labels

        def counting(*values: str, _real: object = real) -> object:
            calls.append(values)
            return _real(*values)  # type: ignore[operator]
        monkeypatch.setattr(family, "labels", counting)
    before = _count("/healthz", "GET", "200")
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert _count("/healthz", "GET", "200") == before + 3
    assert b'etmi_http_request_duration_seconds_count{method="GET",route="/healthz"}' in generate_latest(metrics.HTTP)
    assert calls.count(("/healthz", "GET", "200")) <= 1 and calls.count(("/healthz", "GET")) <= 1  # 3 each before
    assert client.get("/healthz-no-such").status_code == 404
    assert _count("<unmatched>", "GET", "404") >= 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_access_line_is_built_only_when_logged(client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    routes: list[str] = []
    real = logs.route

    def counting() -> str:
        routes.append(real())
        return routes[-1]
    monkeypatch.setattr(logs, "route", counting)
    caplog.set_level(logging.WARNING, logger="etmi.access")
    response = client.get("/healthz")
    assert response.headers["X-Request-ID"]
    assert routes == [] and not [r for r in caplog.records if r.name == "etmi.access"]
    caplog.set_level(logging.INFO, logger="etmi.access")
    client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    lines = [r for r in caplog.records if r.name == "etmi.access"]
    assert routes == ["/healthz"] and len(lines) == 1
    assert (lines[0].__dict__["path"], lines[0].__dict__["status"], lines[0].__dict__["request_id"]) == (
        "/healthz", 200, "abc-123")


def _parsed(address: str | None) -> bool:
    """The rule by parsing alone (before Session 20)."""
    if not address:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


@pytest.mark.parametrize("address", [None, "", "127.0.0.1", "::1", "127.0.0.2", "127.255.255.254", "::ffff:127.0.0.1",
                                     "10.0.0.1", "192.168.1.1", "::2", "fe80::1%eth0", "0:0:0:0:0:0:0:1",
                                     "localhost", "127.0.0.1 ", "not an address"])
def test_loopback_verdict_is_the_parsers(address: str | None) -> None:
    assert edge.is_loopback(address) is _parsed(address)
