"""What the tests share: the fakesnow stand-in (Snowflake's HTTP protocol on DuckDB), a test database, a Context."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from headwater import Context

#: The password every test connection carries: it must never appear in a log line, an error or an event.
PASSWORD = "Sn0wflake-s3cret-pw"
REQUIRE = os.environ.get("HEADWATER_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when HEADWATER_REQUIRE_SERVICES=1."""
    if REQUIRE:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class FakesnowServer:
    """A running ``fakesnow -s`` server."""

    port: int
    log: Path

    def connect(self, **kwargs: Any) -> Any:
        """A connection of the real connector, straight to the server (test setup and assertions)."""
        import snowflake.connector

        return snowflake.connector.connect(
            host="127.0.0.1",
            port=self.port,
            protocol="http",
            account="fakesnow",
            user="fake",
            password="snow",
            paramstyle="qmark",
            network_timeout=30,
            **kwargs,
        )

    def uri(self, database: str, schema: str = "PUBLIC", **options: str) -> str:
        """A ``snowflake://`` URI for the server, with the test password."""
        query = {"host": "127.0.0.1", "port": str(self.port), "protocol": "http", "network_timeout": "10", **options}
        return f"snowflake://etl:{PASSWORD}@fakesnow/{database}/{schema}?{urlencode(query)}"


@dataclass
class Warehouse:
    """A fresh database on the server, the connection id ``sf`` pointing at it, and a connection to inspect it."""

    server: FakesnowServer
    database: str
    conn_id: str
    cursor: Any

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        self.cursor.execute(sql, params or None)
        return list(self.cursor.fetchall())


@dataclass
class CapturedContext:
    """A real :class:`headwater.Context` whose log lines are kept in ``lines``."""

    ctx: Context
    lines: list[str] = field(default_factory=list)


class ListHandler(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
