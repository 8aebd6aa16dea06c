"""The throw-away PostgreSQL cluster (tests/servers/postgres/start) answers SQLAlchemy + psycopg."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    # the start script prints postgresql+psycopg://...; accept the plain form too
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def test_connects_to_the_etmi_database(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(sa.text("select current_database()")).scalar_one() == "etmi"
        version = conn.execute(sa.text("show server_version_num")).scalar_one()
        assert int(version) >= 130000


def test_round_trip_in_a_transaction(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("create table if not exists probe (id serial primary key, doc jsonb not null)"))
        conn.execute(sa.text("insert into probe (doc) values (cast(:doc as jsonb))"), {"doc": '{"a": 1}'})
    with engine.connect() as conn:
        value = conn.execute(sa.text("select doc->>'a' from probe order by id desc limit 1")).scalar_one()
    assert value == "1"
