"""The etmi-fhir service: Flask API, FHIR façade, validation, store and EHR sync.

``create_app`` is importable from here so ``flask --app service run`` and gunicorn
``"service:create_app()"`` find it; the import is lazy to keep ``import service`` light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from service.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    from service.app import create_app as factory

    return factory(settings)
