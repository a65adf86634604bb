"""``snowflake.check``: the core's data-quality checks (row counts, NULLs, duplicates, values, freshness, SQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from headwater.plugin import CheckSpec, SqlCheckOperator, check_template, render_template, template_values
from headwater_snowflake.base import SessionOptions, dataset, table_name
from headwater_snowflake.errors import statement_error

if TYPE_CHECKING:
    from typing import Unpack

    from snowflake.connector import SnowflakeConnection

    from headwater.plugin import Context, TaskOptionArgs

    Value = str | int | float | bool


class SnowflakeCheck(SqlCheckOperator):
    """Check a Snowflake table; fail the task (never retried) with a report of every failed check.

    >>> SnowflakeCheck("check_orders", conn="warehouse", table="orders", row_count_min=1,
    ...                not_null=["id", "amount"], unique=["id"], accepted_values={"status": ["open", "paid"]},
    ...                max_age=("updated_at", "1d"), backfill_warehouse="BACKFILL_WH")

    ``sql`` (a query that must return no rows) may use ``{{ ds }}``-style placeholders. ``warehouse``,
    ``backfill_warehouse`` and ``query_tag`` work as for ``snowflake.query``.
    """

    operator_name = "snowflake.check"
    dialect = "snowflake"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        table: str,
        row_count_min: int | None = None,
        row_count_max: int | None = None,
        not_null: Iterable[str] | str = (),
        unique: Iterable[str | Sequence[str]] | str = (),
        accepted_values: Mapping[str, Iterable[Value]] | None = None,
        max_age: tuple[str, str | int | float] | Sequence[object] | None = None,
        sql: str | None = None,
        warehouse: str | None = None,
        backfill_warehouse: str | None = None,
        query_tag: str | bool | None = None,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        self.session_options = SessionOptions.build(
            task_id, conn=conn, warehouse=warehouse, backfill_warehouse=backfill_warehouse, query_tag=query_tag
        )
        if isinstance(sql, str):
            check_template(sql, task_id=task_id, what="sql")
        super().__init__(
            task_id,
            conn=conn,
            table=table,
            row_count_min=row_count_min,
            row_count_max=row_count_max,
            not_null=not_null,
            unique=unique,
            accepted_values=accepted_values,
            max_age=max_age,
            sql=sql,
            **options,
        )

    def connect(self, ctx: Context) -> SnowflakeConnection:
        with self.session_options.open(ctx) as session:
            return session.detach()  # the checks run on it; SqlCheckOperator closes it

    def dataset(self, ctx: Context) -> str:
        return dataset(self.session_options.settings(ctx), table_name(self.spec.table))

    def spec_for(self, ctx: Context) -> CheckSpec:
        if self.spec.sql is None:
            return self.spec
        return dataclasses.replace(self.spec, sql=render_template(self.spec.sql, template_values(ctx), what="sql"))

    def translate_error(self, error: Exception) -> BaseException:
        import snowflake.connector

        if isinstance(error, snowflake.connector.Error | OSError):
            return statement_error(self.conn, error, None)
        return error

    def describe(self) -> str:
        return f"{self.session_options.describe()}: check {self.spec.describe()}"
