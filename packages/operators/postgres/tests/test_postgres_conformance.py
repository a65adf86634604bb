"""Every postgres operator against the operator conformance suite (the contract YAML pipelines and the engine use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headwater.testing.operators import OperatorConformance
from headwater_postgres import PostgresCopyLoad, PostgresExtract, PostgresOperator, SqlCheck, SqlSensor


class TestPostgresOperator(OperatorConformance):
    operator_class = PostgresOperator
    operator_name = "postgres.query"

    @pytest.fixture
    def operator_kwargs(self, warehouse: str) -> dict[str, object]:
        return {"conn": warehouse, "sql": "select 1 as one"}


class TestPostgresExtract(OperatorConformance):
    operator_class = PostgresExtract
    operator_name = "postgres.extract"

    @pytest.fixture
    def operator_kwargs(self, warehouse: str, tmp_path: Path) -> dict[str, object]:
        return {"conn": warehouse, "sql": "select 1 as one", "path": str(tmp_path / "one.csv")}


class TestPostgresCopyLoad(OperatorConformance):
    operator_class = PostgresCopyLoad
    operator_name = "postgres.copy"

    @pytest.fixture
    def operator_kwargs(self, warehouse: str, schema: str, database: Any, tmp_path: Path) -> dict[str, object]:
        database.execute(f"create table {schema}.t (id int)")
        (tmp_path / "t.csv").write_text("id\n1\n")
        return {"conn": warehouse, "table": f"{schema}.t", "path": str(tmp_path / "t.csv")}


class TestSqlCheck(OperatorConformance):
    operator_class = SqlCheck
    operator_name = "postgres.check"

    @pytest.fixture
    def operator_kwargs(self, warehouse: str, schema: str, database: Any) -> dict[str, object]:
        database.execute(f"create table {schema}.t as select 1 as id")
        return {"conn": warehouse, "table": f"{schema}.t", "row_count_min": 1, "unique": ["id"]}


class TestSqlSensor(OperatorConformance):
    operator_class = SqlSensor
    operator_name = "postgres.sensor"

    @pytest.fixture
    def operator_kwargs(self, warehouse: str) -> dict[str, object]:
        return {"conn": warehouse, "sql": "select true", "poke_interval": "1s", "wait_timeout": "1m"}
