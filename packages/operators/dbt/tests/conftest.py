"""Fixtures: the local PostgreSQL, a throwaway schema per test, and a copy of the test dbt project using it."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hw_dbt_support import PG_HOST, PG_PORT, PROJECT, DbtProject, Warehouse, connect, write_profiles


@pytest.fixture(scope="session")
def postgres() -> None:
    """The local PostgreSQL server (skips without it, fails when HEADWATER_REQUIRE_SERVICES=1)."""
    try:
        conn = connect()
    except Exception as exc:  # psycopg.OperationalError and friends
        reason = f"PostgreSQL at {PG_HOST}:{PG_PORT} is not available: {exc}"
        if os.environ.get("HEADWATER_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    conn.close()  # type: ignore[attr-defined]


@pytest.fixture
def warehouse(postgres: None) -> Iterator[Warehouse]:
    """A fresh schema holding the ``customers`` source table; dropped after the test."""
    wh = Warehouse(schema=f"hw_dbt_{uuid.uuid4().hex[:10]}")
    wh.execute(f"create schema {wh.schema}")
    wh.execute(f"create table {wh.schema}.customers (id integer, name text)")
    wh.execute(f"insert into {wh.schema}.customers values (1, 'Ada'), (2, 'Grace')")
    yield wh
    wh.execute(f"drop schema if exists {wh.schema} cascade")


@pytest.fixture
def dbt_project(tmp_path: Path, warehouse: Warehouse) -> DbtProject:
    """The test project copied to ``tmp_path/shop``, its profile in ``tmp_path/profiles``."""
    path = tmp_path / "shop"
    shutil.copytree(PROJECT, path, ignore=shutil.ignore_patterns("target", "logs"))
    profiles = tmp_path / "profiles"
    write_profiles(profiles, warehouse.schema)
    return DbtProject(path=path, profiles_dir=profiles, schema=warehouse.schema)
