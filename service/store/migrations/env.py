"""Alembic environment: the engine comes from ``config.attributes`` or ``ETMI_DATABASE_URL``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text

from service.store.db import WRITE
from service.store.models import Base


def _engine() -> Engine:
    engine = context.config.attributes.get("engine")
    if engine is None:
        from service.config import Settings
        from service.store.db import make_engine

        engine = make_engine(Settings.from_env().database_url)
    return engine


def run_migrations_online() -> None:
    with _engine().connect() as connection:
        connection.execution_options(**{WRITE: True})  # SQLite: BEGIN IMMEDIATE, workers queue
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":  # several workers may start at once
                connection.execute(text("SELECT pg_advisory_xact_lock(7201)"))
            context.run_migrations()
        connection.commit()


run_migrations_online()
