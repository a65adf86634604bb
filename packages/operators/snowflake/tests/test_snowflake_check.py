"""``snowflake.check``: the core's data-quality checks on a Snowflake table, through the real connector."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from snowflake_stand_in import CapturedContext, Warehouse

from headwater import Pipeline
from headwater.plugin import DataQualityError
from headwater.testing import run_pipeline
from headwater_snowflake import SnowflakeCheck, SnowflakeError


@pytest.fixture
def orders(warehouse: Warehouse) -> Warehouse:
    warehouse.query("create table orders (id int, amount number(10, 2), status varchar, updated_at timestamp_ntz)")
    warehouse.query(
        "insert into orders values "
        "(1, 10.50, 'open', dateadd('minute', -5, current_timestamp()::timestamp_ntz)), "
        "(2, 20.00, 'paid', dateadd('minute', -3, current_timestamp()::timestamp_ntz)), "
        "(2, null, 'lost', dateadd('minute', -2, current_timestamp()::timestamp_ntz))"
    )
    return warehouse


def test_checks_that_pass_report_every_check(orders: Warehouse, make_ctx: Callable[..., CapturedContext]) -> None:
    op = SnowflakeCheck(
        "check_orders",
        conn="sf",
        table="orders",
        row_count_min=1,
        row_count_max=10,
        not_null=["id", "status"],
        accepted_values={"status": ["open", "paid", "lost"]},
        max_age=("updated_at", "1d"),
        sql="select id from orders where amount < 0 and '{{ ds }}' = '2026-03-01'",
    )
    captured = make_ctx("check_orders")

    result = op.execute(captured.ctx)

    assert result["passed"] is True
    assert [check["check"] for check in result["checks"]] == [  # type: ignore[attr-defined]
        "row_count>=1,<=10",
        "not_null(id)",
        "not_null(status)",
        "accepted_values(status)",
        "max_age(updated_at)",
        "sql",
    ]
    assert captured.ctx.reports.reads == [f"snowflake://sf/{orders.database}.PUBLIC.ORDERS"]


def test_failed_checks_fail_the_task_once_with_a_report(orders: Warehouse) -> None:
    with Pipeline("quality") as pipeline:
        SnowflakeCheck(
            "check_orders",
            conn="sf",
            table="orders",
            row_count_min=1,
            not_null=["id", "amount"],
            unique=["id"],
            accepted_values={"status": ["open", "paid"]},
            retries=3,
        )

    run = run_pipeline(pipeline)

    summary = run.summary.task("check_orders")
    assert (summary.state, summary.tries) == ("failed", 1)
    assert summary.error == (
        "3 of 5 checks failed on orders: not_null(amount): 1 NULL value; "
        "unique(id): 1 duplicated value: 2 (2 rows); accepted_values(status): 1 row with other values: 'lost' (1 row)"
    )


def test_the_check_runs_on_the_backfill_warehouse_in_a_backfill(
    orders: Warehouse, make_ctx: Callable[..., CapturedContext]
) -> None:
    op = SnowflakeCheck("check", conn="sf", table="orders", row_count_min=1, backfill_warehouse="BACKFILL_WH")
    captured = make_ctx("check", lane="backfill")

    op.execute(captured.ctx)

    assert "using warehouse BACKFILL_WH (backfill_warehouse: this run is part of a backfill)" in captured.lines
    assert "line 1: USE WAREHOUSE BACKFILL_WH" in captured.lines


def test_a_missing_table_is_a_snowflake_error(warehouse: Warehouse, make_ctx: Callable[..., CapturedContext]) -> None:
    op = SnowflakeCheck("check", conn="sf", table="nowhere", row_count_min=1)
    with pytest.raises(SnowflakeError, match="NOWHERE"):
        op.execute(make_ctx("check").ctx)


def test_a_data_quality_error_is_permanent() -> None:
    from headwater.plugin import PermanentError

    assert issubclass(DataQualityError, PermanentError)
