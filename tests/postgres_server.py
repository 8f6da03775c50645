"""The fixtures `postgres_server` (one real embedded Postgres with pgvector for the session:
tools/measure/postgres_server.py, the `pgserver` wheel's server on a Unix socket) and
`gallery_url` (a fresh, empty database on it for one test). Registered for every test by
conftest.py's ``pytest_plugins``; a test that stops its server starts its own."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest

from tools.measure.postgres_server import PostgresServer

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="pg-")) / "data").start()
    yield server
    server.remove()


@pytest.fixture
def gallery_url(postgres_server) -> str:
    return postgres_server.create_database(f"gallery_test_{next(_databases)}")
