"""Shared fixtures: the metadata database under test (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("HEADWATER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("HEADWATER_REQUIRE_SERVICES") == "1"


class PostgresServer:
    """Creates throwaway databases on the test server and drops them at the end of the session."""

    def __init__(self, admin_url: str) -> None:
        import psycopg

        self._conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
        self._base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        self._names: list[str] = []

    def create_database(self) -> str:
        """A new, empty database; returns its SQLAlchemy URL."""
        name = f"hw_test_{secrets.token_hex(6)}"
        self._conn.execute(f'CREATE DATABASE "{name}"')
        self._names.append(name)
        return f"{self._base}/{name}"

    def close(self) -> None:
        for name in self._names:
            self._conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._conn.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The PostgreSQL test server; tests using it skip when it is unreachable (fail if services are required)."""
    try:
        server = PostgresServer(PG_ADMIN_URL)
    except Exception as exc:  # ImportError (no psycopg) or OperationalError (no server)
        reason = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {type(exc).__name__}: {exc}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} (HEADWATER_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """One throwaway PostgreSQL database shared by the whole session."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata database URL: a SQLite file in tmp_path, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'headwater.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that has never been connected to (no tables yet)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture(scope="session", autouse=True)
def _whole_suite_on_postgres() -> Iterator[None]:
    """With HEADWATER_TEST_DB=postgresql, every run_pipeline() in the suite uses a throwaway PostgreSQL database."""
    if os.environ.get("HEADWATER_TEST_DB") != "postgresql":
        yield
        return
    try:
        server = PostgresServer(PG_ADMIN_URL)
    except Exception as exc:
        pytest.fail(f"HEADWATER_TEST_DB=postgresql but PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    os.environ["HEADWATER_TEST_DB"] = server.create_database()
    try:
        yield
    finally:
        os.environ["HEADWATER_TEST_DB"] = "postgresql"
        server.close()
