"""``/guide``: every artifact of the guide package has a readable page, well formed, loading nothing from elsewhere."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from service.app import create_app
from service.ig import DEFAULT_PACKAGE_DIR, Package
from tests.service.conftest import make_settings

LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}
PACKAGE = Package.load(DEFAULT_PACKAGE_DIR)
ARTIFACTS = sorted((rtype, rid) for rtype, found in PACKAGE.by_type.items() for rid in found)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
#: tags that may be left open in HTML (the templates close them all, so none is expected)
URL_ATTRS = {"href", "src", "action", "srcset", "poster", "data", "formaction"}


class Checker(HTMLParser):
    """Every element closed in order; every URL attribute local; no script; th cells scoped in tables."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.links: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []
        self.headings: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "iframe", "object", "embed", "link", "img"):
            self.problems.append(f"<{tag}> element")
        if tag == "th" and "scope" not in values:
            self.problems.append("<th> without scope")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if values.get("id"):
            self.ids.append(str(values["id"]))
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler {name}")
            if name in URL_ATTRS and value is not None:
                self.links.append(value)
                if not (value.startswith("/") or value.startswith("#")) or value.startswith("//"):
                    self.problems.append(f"external or relative URL {value!r}")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check(html: str) -> Checker:
    checker = Checker()
    checker.feed(html)
    checker.close()
    assert not checker.problems, checker.problems[:5]
    assert checker.stack == [], f"unclosed: {checker.stack}"
    assert checker.headings.count(1) == 1, "one h1 per page"
    jumps = [b for a, b in zip(checker.headings, checker.headings[1:], strict=False) if b > a + 1]
    assert not jumps, f"heading levels skipped: {checker.headings}"
    assert len(set(checker.ids)) == len(checker.ids), "duplicate ids"
    return checker


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    db = Path(tmp_path_factory.mktemp("guide")) / "etmi.db"
    app = create_app(make_settings(f"sqlite:///{db}"))
    yield app.test_client()
    app.extensions["etmi"].store.close()


def page(client: FlaskClient, path: str) -> Checker:
    answer = client.get(path, environ_base=LOOPBACK)
    assert answer.status_code == 200, (path, answer.status_code)
    assert answer.mimetype == "text/html"
    assert "script-src" not in answer.headers["Content-Security-Policy"]
    return check(answer.get_data(as_text=True))


def test_the_package_has_every_kind_of_artifact() -> None:
    kinds = {rtype for rtype, _ in ARTIFACTS}
    assert {"StructureDefinition", "Questionnaire", "CodeSystem", "ValueSet"} <= kinds
    assert len(ARTIFACTS) >= 40


@pytest.mark.parametrize(("rtype", "rid"), ARTIFACTS, ids=[f"{t}/{i}" for t, i in ARTIFACTS])
def test_every_artifact_has_a_page(client: FlaskClient, rtype: str, rid: str) -> None:
    found = page(client, f"/guide/{rtype}/{rid}")
    title = PACKAGE.read(rtype, rid) or {}
    assert str(title.get("title") or title.get("name")) in " ".join(found.text)


def test_index_links_every_artifact_and_every_link_answers(client: FlaskClient) -> None:
    assert client.get("/guide", environ_base=LOOPBACK).status_code == 200  # the landing page links /guide
    index = page(client, "/guide/")
    for rtype, rid in ARTIFACTS:
        if rtype != "ImplementationGuide":
            assert f"/guide/{rtype}/{rid}" in index.links
    for link in {link for link in index.links if link.startswith("/guide/")}:
        answer = client.get(link, environ_base=LOOPBACK)
        assert answer.status_code == 200, link


def test_landing_page_links_the_guide(client: FlaskClient) -> None:
    html = client.get("/", environ_base=LOOPBACK).get_data(as_text=True)
    assert 'href="/guide"' in html


def test_profile_page_shows_elements_cardinality_must_support_bindings_and_patterns(client: FlaskClient) -> None:
    answer = client.get("/guide/StructureDefinition/etmi-observation-pain", environ_base=LOOPBACK)
    html = answer.get_data(as_text=True).replace("<wbr>", "")
    row = r'<tr>\s*<th scope="row"><code class="path">([^<]+)</code></th>\s*<td>([^<]+)</td>\s*<td>(.*?)</td>'
    rows = re.findall(row, html)
    key = {element: (card, "yes" in ms) for element, card, ms in rows}
    assert key["Observation.subject"] == ("1..1", True)
    assert key["Observation.value[x].comparator"][0] == "0..0"
    assert "pattern <code>http://loinc.org|72514-3</code>" in html  # the pain NRS LOINC code
    assert "etmi-obs-status" in html  # the profile's own invariant
    careplan = client.get("/guide/StructureDefinition/etmi-careplan", environ_base=LOOPBACK).get_data(as_text=True)
    assert 'extensible: <a href="/guide/ValueSet/etmi-session-component">' in careplan


def test_questionnaire_page_reads_as_a_form(client: FlaskClient) -> None:
    answer = client.get("/guide/Questionnaire/etmi-intake", environ_base=LOOPBACK)
    html = answer.get_data(as_text=True)
    intake = PACKAGE.read("Questionnaire", "etmi-intake") or {}
    for item in intake["item"]:
        assert f'id="item-{item["linkId"]}"' in html
    assert "Completely disagree" in html and "Completely agree" in html  # FABQ answer options
    assert re.search(r"Shown only when “Are you currently working[^”]*” \(work\.employed\) is true", html)
    assert re.search(r'Calculated from <a href="#item-phq2.q1">phq2.q1</a>, <a href="#item-phq2.q2">', html)
    assert "0 to 10 {score}" in html  # the pain NRS range and unit


def test_codesystem_and_valueset_pages_list_codes(client: FlaskClient) -> None:
    cs = client.get("/guide/CodeSystem/etmi-ttm-stage", environ_base=LOOPBACK).get_data(as_text=True)
    for code in ("precontemplation", "contemplation", "preparation", "action", "maintenance"):
        assert f"<code>{code}</code>" in cs
    assert "/guide/ValueSet/etmi-ttm-stage" in cs
    vs = client.get("/guide/ValueSet/etmi-ttm-stage", environ_base=LOOPBACK).get_data(as_text=True)
    assert "<code>maintenance</code>" in vs and "/guide/CodeSystem/etmi-ttm-stage" in vs
    assert "/guide/StructureDefinition/etmi-observation-stage-of-change" in vs  # bound from


@pytest.mark.parametrize("path", ["/guide/StructureDefinition/nope", "/guide/Patient/x", "/guide/ValueSet/%3Cb%3E"])
def test_unknown_artifact_is_404(client: FlaskClient, path: str) -> None:
    assert client.get(path, environ_base=LOOPBACK).status_code == 404


def test_guide_is_public_in_jwt_mode(tmp_path: Path) -> None:
    """Conformance content, no patient data: the pages answer without a token, like the landing page."""
    settings = dataclasses.replace(make_settings(f"sqlite:///{tmp_path / 'etmi.db'}"), auth_mode="jwt",
                                   auth_issuer="https://as.example", auth_audience="https://etmi.example/fhir")
    app = create_app(settings)
    try:
        remote = {"REMOTE_ADDR": "10.1.2.3"}
        assert app.test_client().get("/guide/CodeSystem/etmi-gpe", environ_base=remote).status_code == 200
        assert app.test_client().get("/api/v1/outbox", environ_base=remote).status_code == 401  # the rest is not
    finally:
        app.extensions["etmi"].store.close()
