"""``create_app(settings=None)``: the web app, assembled from the pieces of ``service.compose``."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from flask_smorest import Api

from service import cds, clinician, compose, guide
from service.adapters.token_verifier import JwksTokenVerifier
from service.api import docs, edge, health, jwks, landing, logs, metrics, routes
from service.api.jwks import load_public_jwks
from service.config import Settings
from service.fhir import bulk, errors, facade
from service.fhir.validator import validate
from service.security import TokenVerifier
from service.wiring import Context

log = logging.getLogger("etmi.app")
MAX_BODY = 5 * 1024 * 1024  # bytes; a larger request body is 413


def _api_config(app: Flask) -> None:
    app.config.update(
        API_TITLE="ETMI API", API_VERSION="v1", OPENAPI_VERSION="3.1.0", OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",  # the docs page is service.api.docs (Swagger UI from a package)
        API_SPEC_OPTIONS={"info": {"description": "ETMI clinic data in; FHIR R4 out. Errors are "
                                                  "application/fhir+json OperationOutcomes."}},
    )


def _verifier(settings: Settings) -> TokenVerifier | None:
    if settings.auth_mode == "none":
        log.warning("AUTHENTICATION DISABLED (ETMI_AUTH_MODE=none): development mode, every caller is trusted",
                    extra={"event": "auth_disabled", "auth_mode": "none"})
        return None
    return JwksTokenVerifier(settings.auth_issuer, settings.auth_audience, settings.auth_jwks_url,
                             leeway=settings.auth_leeway)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.check()  # ConfigError: refuse to start without an audience, with a bad public base URL...
    logs.configure(settings.log_level)
    compose.configure_validator(settings)
    compose.warm_validator()  # the validator is built at start, not by the first requests
    app = Flask(__name__, root_path=str(Path(__file__).resolve().parent))
    _api_config(app)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    ctx = Context(
        settings=settings,
        store=compose.open_store(settings),
        package=compose.package(settings),
        verifier=_verifier(settings),
        validate=validate,
        public_jwks=load_public_jwks(settings),
        target_names=tuple(t.name for t in compose.targets(settings)),
    )
    app.extensions["etmi"] = ctx
    logs.install(app)
    edge.install(app, settings)
    metrics.install(app, ctx.store, ctx.target_names)  # /metrics, per-route request metrics, DB down: 503
    api = Api(app)
    routes.register(api)
    app.register_blueprint(health.bp)
    app.register_blueprint(jwks.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(facade.bp)
    app.register_blueprint(bulk.bp)  # /fhir/$export: Bulk Data for system/ scopes (issue 15)
    cds.register(app, settings)  # /cds-services: CDS Hooks 2.0 patient-view (issue 14)
    app.register_blueprint(landing.bp)  # /, and pointers at /fhir and /api/v1
    guide.register(app, ctx.package)  # /guide: the implementation guide as pages (issue 15)
    clinician.register(app, settings, ctx.store)  # /clinician: the SMART app (issue 14)
    errors.register(app)
    return app
