"""Test helpers of headwater-dbt: the local PostgreSQL's address, a throwaway schema, the test dbt project."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PG_HOST = os.environ.get("HEADWATER_DBT_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HEADWATER_DBT_PG_PORT", "5432"))
PG_USER = os.environ.get("HEADWATER_DBT_PG_USER", "postgres")
PG_DB = os.environ.get("HEADWATER_DBT_PG_DB", "test")
#: the server trusts local connections: this password is accepted and ignored, so tests can
#: check that it never shows up in a log line, an error or a result
PASSWORD = "hw-dbt-Pr0file-S3cret"
PROJECT = Path(__file__).parent / "dbt_project"


def connect() -> object:
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB, connect_timeout=3, autocommit=True)


@dataclass
class Warehouse:
    """A throwaway schema in the local PostgreSQL."""

    schema: str

    def query(self, sql: str) -> list[tuple[object, ...]]:
        with connect() as conn:  # type: ignore[attr-defined]
            return list(conn.execute(sql).fetchall())

    def execute(self, sql: str) -> None:
        with connect() as conn:  # type: ignore[attr-defined]
            conn.execute(sql)

    def tables(self) -> set[str]:
        rows = self.query(f"select table_name from information_schema.tables where table_schema = '{self.schema}'")
        return {str(r[0]) for r in rows}


@dataclass
class DbtProject:
    """A copy of the test dbt project with its own profiles.yml pointing at the test's schema."""

    path: Path
    profiles_dir: Path
    schema: str

    @property
    def manifest(self) -> Path:
        return self.path / "target" / "manifest.json"


def write_profiles(directory: Path, schema: str, *, port: int = PG_PORT) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "profiles.yml").write_text(
        "headwater_shop:\n"
        "  target: dev\n"
        "  outputs:\n"
        "    dev:\n"
        "      type: postgres\n"
        f"      host: {PG_HOST}\n"
        f"      port: {port}\n"
        f"      user: {PG_USER}\n"
        f"      password: {PASSWORD}\n"
        f"      dbname: {PG_DB}\n"
        f"      schema: {schema}\n"
        "      threads: 1\n"
        "      connect_timeout: 3\n"
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
