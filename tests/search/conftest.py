"""Fixtures of the search tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.search.postgres import PostgresMissing, PostgresServer, find_bindir, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1 for the session; fails (never skips) without one."""
    missing = None
    try:
        bindir = find_bindir()
    except PostgresMissing as error:
        missing = str(error)
    if missing is not None:  # failed outside the except: no "during handling" noise
        pytest.fail(missing, pytrace=False)  # CI must test the PostgreSQL path: never skip
    with postgres_server(bindir) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresServer) -> str:
    """``postgresql://lrkit:PASSWORD@127.0.0.1:PORT/lrkit`` on the session's server."""
    return postgres.url


@pytest.fixture
def postgres_db(postgres: PostgresServer) -> str:
    """The URL of a fresh, empty database: a study's first workers also race to create tables."""
    return postgres.create_database(f"t_{uuid.uuid4().hex[:12]}")
