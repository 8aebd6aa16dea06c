"""The FHIR client follows paging links only under the target's own base URL (real local HTTP servers).

A hostile or misconfigured EHR's ``next`` link to another host (or port, scheme, or a path outside the
base) is refused before any request: the other server sees nothing, least of all the Authorization header.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from service.adapters.fhir_client import FhirClient, ForeignLinkError, under_base
from service.adapters.smart_auth import StaticAuth
from tests.servers.loopback import QuietHandler, serve, stop


class Recorder:
    """An HTTP server answering ``pages[path]`` (a searchset Bundle); records (path, Authorization)."""

    def __init__(self) -> None:
        self.pages: dict[str, dict[str, Any]] = {}
        self.seen: list[tuple[str, str | None]] = []
        recorder = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                recorder.seen.append((self.path, self.headers.get("Authorization")))
                page = recorder.pages.get(self.path, {"resourceType": "Bundle", "type": "searchset", "entry": []})
                body = json.dumps(page).encode()
                self.send_body(200, body, "application/fhir+json")


        self.server, self.origin = serve(Handler)

    def close(self) -> None:
        stop(self.server)


@pytest.fixture
def ehr() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def elsewhere() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


def _page(ids: list[str], next_url: str | None) -> dict[str, Any]:
    links = [{"relation": "next", "url": next_url}] if next_url else []
    return {"resourceType": "Bundle", "type": "searchset", "link": links,
            "entry": [{"resource": {"resourceType": "Goal", "id": i}, "search": {"mode": "match"}} for i in ids]}


def test_next_links_under_the_base_are_followed(ehr: Recorder) -> None:
    ehr.pages["/fhir/Goal?_count=1"] = _page(["g1"], f"{ehr.origin}/fhir?_getpages=abc&_offset=1")
    ehr.pages["/fhir?_getpages=abc&_offset=1"] = _page(["g2"], "Goal?_count=1&page=3")  # relative: under the base
    ehr.pages["/fhir/Goal?_count=1&page=3"] = _page(["g3"], None)
    client = FhirClient(f"{ehr.origin}/fhir", auth=StaticAuth.bearer("secret-token"))
    assert [r["id"] for r in client.search("Goal", {"_count": "1"})] == ["g1", "g2", "g3"]
    assert [auth for _, auth in ehr.seen] == ["Bearer secret-token"] * 3


@pytest.mark.parametrize("make_next", [
    lambda ehr, other: f"{other.origin}/fhir/Goal?page=2",  # another port (another server)
    lambda ehr, other: f"{other.origin.replace('127.0.0.1', 'localhost')}/fhir/Goal?page=2",  # another host
    lambda ehr, other: f"//127.0.0.1:{other.server.server_address[1]}/fhir/Goal",  # scheme-relative
    lambda ehr, other: f"{ehr.origin}/admin/Goal?page=2",  # same server, outside the base path
    lambda ehr, other: f"{ehr.origin}/fhir/../admin",  # a dot segment escaping the base
    lambda ehr, other: f"{ehr.origin.replace('http:', 'https:')}/fhir/Goal",  # another scheme
])
def test_a_foreign_next_link_is_refused_and_never_requested(ehr: Recorder, elsewhere: Recorder, make_next: Any) -> None:
    ehr.pages["/fhir/Goal?_count=1"] = _page(["g1"], make_next(ehr, elsewhere))
    client = FhirClient(f"{ehr.origin}/fhir", auth=StaticAuth.bearer("secret-token"))
    seen = []
    with pytest.raises(ForeignLinkError):
        for resource in client.search("Goal", {"_count": "1"}):
            seen.append(resource["id"])
    assert seen == ["g1"]
    assert elsewhere.seen == []  # the token never left for the other server
    assert [path for path, _ in ehr.seen] == ["/fhir/Goal?_count=1"]


def test_under_base_compares_origin_and_path_prefix() -> None:
    base = "https://ehr.example/fhir"
    assert under_base(base, "https://EHR.example:443/fhir/Patient?x=1")
    assert under_base(base, "https://ehr.example/fhir")
    assert not under_base(base, "https://ehr.example/fhirx/Patient")
    assert not under_base(base, "https://user@ehr.example/fhir/Patient")
    assert not under_base(base, "https://ehr.example/fhir/%2e%2e/admin")
    assert not under_base(base, "https://ehr.example:99999/fhir")
