"""Fixtures: a throwaway database on the local PostgreSQL server, and connection ids pointing at it."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from headwater import DataInterval
from headwater.plugin import Context

ADMIN_URL = os.environ.get("HEADWATER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("HEADWATER_REQUIRE_SERVICES") == "1"
#: The password every test connection URI carries (the test server trusts loopback, so any password works):
#: it must never appear in a log line, an error or the metadata database.
PASSWORD = "pg-s3cret-" + secrets.token_hex(4)


@dataclass(frozen=True)
class Database:
    """A throwaway database: its name, a URI with a password, and an admin connection to set up data."""

    name: str
    uri: str

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.uri, autocommit=True)

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    """A new database for the session (dropped at the end); the tests skip if PostgreSQL is unreachable."""
    try:
        import psycopg

        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:  # no psycopg, or no server
        reason = f"PostgreSQL is not reachable at {ADMIN_URL}: {type(exc).__name__}: {exc}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} (HEADWATER_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    name = f"hw_pg_{secrets.token_hex(5)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    info = admin.info
    uri = f"postgresql://{info.user}:{PASSWORD}@{info.host}:{info.port}/{name}"
    try:
        yield Database(name, uri)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def warehouse(database: Database, monkeypatch: pytest.MonkeyPatch) -> str:
    """The connection id ``warehouse`` -> the session's database (a URI with a password)."""
    monkeypatch.setenv("HEADWATER_CONN_WAREHOUSE", database.uri)
    return "warehouse"


@pytest.fixture
def schema(database: Database) -> Iterator[str]:
    """A fresh schema for one test (dropped after), so tests never see each other's tables."""
    name = f"t_{secrets.token_hex(4)}"
    database.execute(f"CREATE SCHEMA {name}")
    yield name
    database.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def down(monkeypatch: pytest.MonkeyPatch) -> str:
    """The connection id ``down`` -> a loopback port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HEADWATER_CONN_DOWN", f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/nowhere")
    return "down"


def make_context(
    task_id: str = "task",
    *,
    params: dict[str, object] | None = None,
    partition: str | None = None,
    logical_date: datetime | None = None,
) -> Context:
    """A task's context for calling ``execute`` directly (to look at its lineage and metadata)."""
    moment = logical_date or datetime(2026, 3, 1, tzinfo=UTC)
    return Context(
        run_id="run-1",
        pipeline_id="tests",
        task_id=task_id,
        try_number=1,
        logical_date=moment,
        data_interval=DataInterval(moment, moment.replace(day=moment.day + 1)),
        params=params or {},
        upstream={},
        log=logging.getLogger(f"test.postgres.{task_id}"),
        partition=partition,
    )


@pytest.fixture
def password() -> str:
    """The password in every test connection URI: it must show up nowhere."""
    return PASSWORD


@pytest.fixture
def context() -> Any:
    """``context(task_id, params=..., partition=...)`` builds a task context (see :func:`make_context`)."""
    return make_context
