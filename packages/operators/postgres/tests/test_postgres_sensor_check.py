"""``postgres.sensor`` / ``sql.condition`` and ``postgres.check`` against the local PostgreSQL."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from headwater import Pipeline, load_operator
from headwater.plugin import DataQualityError
from headwater.testing import run_pipeline
from headwater_postgres import SqlCheck, SqlSensor


def _pipeline_id() -> str:
    return f"pg_{secrets.token_hex(3)}"


def test_the_sensor_pokes_until_the_first_cell_is_truthy(warehouse: str, schema: str, database: Any) -> None:
    database.execute(f"create sequence {schema}.pokes")
    with Pipeline(_pipeline_id()) as pipeline:
        SqlSensor(
            "wait",
            conn=warehouse,
            sql=f"select nextval('{schema}.pokes') >= 3",
            poke_interval="0.05s",
            wait_timeout="5m",
        )
        SqlSensor(
            "count",
            conn=warehouse,
            sql=f"select count(*) from {schema}.pokes_log where day = %s",
            parameters=["{{ ds }}"],
            poke_interval="0.05s",
            wait_timeout="0.3s",
        )
    database.execute(f"create table {schema}.pokes_log (day date)")
    run = run_pipeline(pipeline)
    assert run.results["wait"] is True
    assert database.execute(f"select last_value from {schema}.pokes") == [(3,)]  # poked three times
    count = run.summary.task("count")
    assert count.state == "failed"
    assert count.error is not None and count.error.startswith("SensorTimeout: condition not met within 0.3s")


def test_the_sensor_is_registered_under_both_names() -> None:
    assert load_operator("postgres.sensor") is SqlSensor
    assert load_operator("sql.condition") is SqlSensor


def test_a_bad_sensor_query_fails_at_once(warehouse: str) -> None:
    with Pipeline(_pipeline_id()) as pipeline:
        SqlSensor("wait", conn=warehouse, sql="select * from no_such_table", retries=3, poke_interval="1s")
    task = run_pipeline(pipeline).summary.task("wait")
    assert (task.state, task.tries) == ("failed", 1)
    assert task.error == "postgres 'warehouse': relation \"no_such_table\" does not exist [42P01] (line 1)"


@pytest.fixture
def orders(database: Any, schema: str) -> str:
    database.execute(
        f"create table {schema}.orders (id int, amount numeric, status text, updated_at timestamptz default now())"
    )
    database.execute(f"insert into {schema}.orders (id, amount, status) values (1, 5, 'open'), (2, 7, 'paid')")
    return f"{schema}.orders"


def test_the_public_example_passes_on_good_data(warehouse: str, orders: str, context: Any) -> None:
    check = SqlCheck(
        "check_orders",
        conn=warehouse,
        table=orders,
        row_count_min=1,
        not_null=["id", "amount"],
        unique=["id"],
        accepted_values={"status": ["open", "paid"]},
        max_age=("updated_at", "1d"),
        sql=None,
    )
    assert check.describe() == (
        f"SqlCheck on warehouse: {orders}: row_count>=1, not_null(id), not_null(amount), unique(id), "
        "accepted_values(status), max_age(updated_at)"
    )
    ctx = context("check_orders")
    result = check.execute(ctx)
    assert result["passed"] is True
    assert ctx.reports.reads == [f"postgres://warehouse/{orders}"]
    assert ctx.reports.metadata["checks"] == result


def test_bad_data_fails_the_task_once_with_the_report(warehouse: str, orders: str, database: Any) -> None:
    database.execute(
        f"insert into {orders} values (2, null, 'lost', now() - interval '3 days'), (3, 1, 'void', default)"
    )
    with Pipeline(_pipeline_id(), params={"limit": 6}) as pipeline:
        SqlCheck(
            "check_orders",
            conn=warehouse,
            table=orders,
            not_null=["amount"],
            unique=["id"],
            accepted_values={"status": ["open", "paid"]},
            sql=f"select id, amount from {orders} where amount > {{{{ params.limit }}}}",
            retries=2,
            retry_delay=0,
        )
    run = run_pipeline(pipeline)
    task = run.summary.task("check_orders")
    assert (task.state, task.tries) == ("failed", 1)
    assert task.error == (
        f"4 of 4 checks failed on {orders}: not_null(amount): 1 NULL value; unique(id): 1 duplicated value: "
        "2 (2 rows); accepted_values(status): 2 rows with other values: 'lost' (1 row), 'void' (1 row); "
        "sql: 1 row returned (must return none), e.g. (2, 7)"
    )


def test_a_missing_table_is_a_permanent_error(warehouse: str, context: Any) -> None:
    with Pipeline(_pipeline_id()) as pipeline:
        SqlCheck("check", conn=warehouse, table="public.nope", row_count_min=1, retries=2)
    task = run_pipeline(pipeline).summary.task("check")
    assert (task.state, task.tries) == ("failed", 1)
    assert task.error == "postgres 'warehouse': relation \"public.nope\" does not exist [42P01]"
    assert not issubclass(DataQualityError, TimeoutError)
