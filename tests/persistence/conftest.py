"""Fixtures: a fresh database per test on a temp SQLite file, and on PostgreSQL when
``POSMAN_TEST_PG_URL`` is set (every test that takes ``repo`` runs on both)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from manager.persistence import Database, Repository
from manager.persistence.models import POSMAN_METADATA
from tests.support.clock import FakeClock

PG_URL_ENV = "POSMAN_TEST_PG_URL"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'state' / 'posman.sqlite'}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    """``POSMAN_TEST_PG_URL``, else a throwaway local server when PostgreSQL is installed, else None."""
    if os.environ.get(PG_URL_ENV):
        yield os.environ[PG_URL_ENV]
        return
    from tests.support.pg_server import local_postgres

    with local_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, sqlite_url, clock, pg_url) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(sqlite_url, clock=clock)
        yield database
        database.dispose()
        return
    url = pg_url
    if not url:
        pytest.skip(f"no PostgreSQL: install it (and the 'postgres' extra) or set {PG_URL_ENV}")
    database = Database(url, clock=clock)
    POSMAN_METADATA.drop_all(database.engine)
    database.create_schema()
    yield database
    POSMAN_METADATA.drop_all(database.engine)
    database.dispose()


@pytest.fixture
def repo(db, clock) -> Repository:
    return Repository(db, clock=clock)
