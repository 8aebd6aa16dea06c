"""CDS Hooks 2.0 service (issue 14): ``patient-view`` cards about a patient's ETMI course, each linking to
the clinician app (``service.clinician``) with a SMART launch link. docs/cds-hooks.md describes it.

Rule: CDS Clients are trusted only by a JWT signed with a key from a JWKS URL configured for their ``iss``
(``ETMI_CDS_CLIENTS``); patient data comes only from the request's prefetch or from the request's own
``fhirServer`` with the request's own ``fhirAuthorization`` token, through ``service/adapters``.
"""

from __future__ import annotations

from flask import Flask

from service.adapters.cds_clients import CdsClientVerifier, parse_clients
from service.clinician import launch_url
from service.config import Settings
from service.store.cds_jti import CdsJtiLedger


def register(app: Flask, settings: Settings) -> None:
    """Add ``/cds-services`` to the app (``ConfigError`` for a malformed ``ETMI_CDS_CLIENTS``)."""
    from service.cds.routes import blueprint

    clients = parse_clients(settings.cds_clients)
    ledger = CdsJtiLedger(app.extensions["etmi"].store.sessions)  # seen jti: one table for every process
    app.register_blueprint(blueprint(
        lambda audience: CdsClientVerifier(clients, audience, ledger, leeway=settings.auth_leeway), launch_url))
