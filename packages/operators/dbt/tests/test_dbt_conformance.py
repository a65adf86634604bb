"""dbt.build, dbt.run and dbt.test held to the operator contract (headwater.testing's OperatorConformance)."""

from __future__ import annotations

import pytest
from hw_dbt_support import PG_DB, PG_HOST, PG_PORT, PG_USER, DbtProject

from headwater.testing.conformance import OperatorConformance
from headwater_dbt import DbtBuildOperator, DbtRunOperator, DbtTestOperator

CONN = "hw_dbt_conformance"


@pytest.fixture
def conn_env(dbt_project: DbtProject, monkeypatch: pytest.MonkeyPatch) -> str:
    """A Headwater connection (with a password the server ignores) to the test's schema."""
    uri = f"postgres://{PG_USER}:conformance-pw-123@{PG_HOST}:{PG_PORT}/{PG_DB}?schema={dbt_project.schema}&threads=1"
    monkeypatch.setenv(f"HEADWATER_CONN_{CONN.upper()}", uri)
    return CONN


class TestDbtBuildConformance(OperatorConformance):
    operator_class = DbtBuildOperator
    operator_name = "dbt.build"

    @pytest.fixture
    def operator_kwargs(self, dbt_project: DbtProject, conn_env: str) -> dict[str, object]:
        return {"project_dir": str(dbt_project.path), "conn": conn_env, "select": "+stg_orders"}


class TestDbtRunConformance(OperatorConformance):
    operator_class = DbtRunOperator
    operator_name = "dbt.run"

    @pytest.fixture
    def operator_kwargs(self, dbt_project: DbtProject, conn_env: str) -> dict[str, object]:
        return {"project_dir": str(dbt_project.path), "conn": conn_env, "select": "dim_customers"}


class TestDbtTestConformance(OperatorConformance):
    operator_class = DbtTestOperator
    operator_name = "dbt.test"

    @pytest.fixture
    def operator_kwargs(self, dbt_project: DbtProject, conn_env: str) -> dict[str, object]:
        return {"project_dir": str(dbt_project.path), "conn": conn_env, "select": "dim_customers"}  # no tests: passes
