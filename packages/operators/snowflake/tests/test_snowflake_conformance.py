"""Every Snowflake operator against the operator conformance suite (the contract YAML pipelines and the engine use)."""

from __future__ import annotations

from pathlib import Path

import pytest
from snowflake_stand_in import Warehouse

from headwater.testing.operators import OperatorConformance
from headwater_snowflake import SnowflakeCheck, SnowflakeOperator, SnowflakeStageLoad


class TestSnowflakeOperator(OperatorConformance):
    operator_class = SnowflakeOperator
    operator_name = "snowflake.query"

    @pytest.fixture
    def operator_kwargs(self, warehouse: Warehouse) -> dict[str, object]:
        return {
            "conn": warehouse.conn_id,
            "sql": "create table t (id int);\ninsert into t values (1);\nselect * from t",
        }


class TestSnowflakeStageLoad(OperatorConformance):
    operator_class = SnowflakeStageLoad
    operator_name = "snowflake.load"

    @pytest.fixture
    def operator_kwargs(self, warehouse: Warehouse, tmp_path: Path) -> dict[str, object]:
        warehouse.query("create table t (id int, name varchar)")
        (tmp_path / "t.csv").write_text("id,name\n1,a\n")
        return {
            "conn": warehouse.conn_id,
            "table": "t",
            "file": str(tmp_path / "t.csv"),
            "file_format": {"type": "csv", "skip_header": 1},
        }


class TestSnowflakeCheck(OperatorConformance):
    operator_class = SnowflakeCheck
    operator_name = "snowflake.check"

    @pytest.fixture
    def operator_kwargs(self, warehouse: Warehouse) -> dict[str, object]:
        warehouse.query("create table t as select 1 as id")
        return {"conn": warehouse.conn_id, "table": "t", "row_count_min": 1, "unique": ["id"], "not_null": ["id"]}
