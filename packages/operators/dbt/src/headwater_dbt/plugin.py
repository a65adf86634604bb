"""Registers ``dbt.build``, ``dbt.run`` and ``dbt.test`` (imports nothing: dbt loads when a task runs)."""

from __future__ import annotations

from headwater.plugin import Register, hookimpl


@hookimpl
def headwater_register_operators(register: Register) -> None:
    register("dbt.build", "headwater_dbt.operators:DbtBuildOperator")
    register("dbt.run", "headwater_dbt.operators:DbtRunOperator")
    register("dbt.test", "headwater_dbt.operators:DbtTestOperator")
