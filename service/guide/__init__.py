"""``/guide``: the implementation guide (``profiles/package``) as pages a person reads in a browser.

One page per profile, Questionnaire, CodeSystem and ValueSet, rendered on the server from the loaded
``Package`` with the templates under ``templates/guide``: no script, nothing loaded from elsewhere.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, render_template

from service.guide.forms import questionnaire_view
from service.guide.model import link, profile_view, summary
from service.guide.terms import codesystem_view, valueset_view
from service.ig import Package

bp = Blueprint("guide", __name__, template_folder="templates")
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
EXTENSION = "etmi.guide"
#: the index's sections, in order: (resource type, heading)
SECTIONS = (("StructureDefinition", "Profiles and extensions"), ("Questionnaire", "Questionnaires"),
            ("CodeSystem", "Code systems"), ("ValueSet", "Value sets"))


def register(app: Flask, package: Package) -> None:
    """Serve ``package`` at /guide (the landing page links it when this blueprint is registered)."""
    app.extensions[EXTENSION] = package
    app.register_blueprint(bp)


def _package() -> Package:
    package: Package = current_app.extensions[EXTENSION]
    return package


def _page(template: str, **values: Any) -> Response:
    html = render_template(f"guide/{template}", **values)
    return Response(html, mimetype="text/html", headers={"Content-Security-Policy": PAGE_CSP})


def _entries(package: Package, rtype: str) -> list[dict[str, Any]]:
    rows = [summary(r) | {"href": f"/guide/{rtype}/{r['id']}", "kind": r.get("kind")}
            for r in package.resources(rtype)]
    return sorted(rows, key=lambda r: (r["kind"] != "resource", str(r["title"]).lower()))


@bp.get("/guide")
@bp.get("/guide/")
def index() -> Response:
    package = _package()
    guides = package.resources("ImplementationGuide")
    head = summary(guides[0]) if guides else {"title": package.manifest.get("title") or "Implementation guide"}
    sections = [(rtype, title, _entries(package, rtype)) for rtype, title in SECTIONS]
    return _page("index.html", head=head, manifest=package.manifest, sections=sections,
                 guide_ids=[g["id"] for g in guides])


@bp.get("/guide/<rtype>/<rid>")
def artifact(rtype: str, rid: str) -> Response:
    package = _package()
    resource = package.read(rtype, rid)
    if resource is None:
        abort(404)
    if rtype == "ImplementationGuide":
        return index()
    if rtype == "StructureDefinition":
        return _page("profile.html", view=profile_view(package, resource))
    if rtype == "Questionnaire":
        return _page("questionnaire.html", view=questionnaire_view(resource),
                     profile=link(package, (resource.get("meta", {}).get("profile") or [None])[0]))
    if rtype == "CodeSystem":
        return _page("codesystem.html", view=codesystem_view(package, resource))
    return _page("valueset.html", view=valueset_view(package, resource))
