"""``postgres.check``: the core's data-quality checks (row counts, NULLs, duplicates, values, freshness, SQL)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from headwater.plugin import CheckSpec, SqlCheckOperator, render_template, template_values
from headwater_postgres.base import dataset
from headwater_postgres.errors import statement_error

if TYPE_CHECKING:
    import psycopg

    from headwater.plugin import Context


class SqlCheck(SqlCheckOperator):
    """Check a PostgreSQL table; fail the task (never retried) with a report of every failed check.

    >>> SqlCheck("check_orders", conn="warehouse", table="orders", row_count_min=1, not_null=["id", "amount"],
    ...          unique=["id"], accepted_values={"status": ["open", "paid"]}, max_age=("updated_at", "1d"))

    ``sql`` (a query that must return no rows) may use ``{{ ds }}``-style placeholders.
    """

    operator_name = "postgres.check"
    dialect = "postgres"

    def connect(self, ctx: Context) -> psycopg.Connection[Any]:
        from headwater_postgres.connection import connect, describe

        connection_info = ctx.connection(self.conn)
        ctx.log.info("connecting to postgres %r (%s)", self.conn, describe(connection_info))
        return connect(connection_info)

    def dataset(self, ctx: Context) -> str:
        return dataset(self.conn, self.spec.table)

    def spec_for(self, ctx: Context) -> CheckSpec:
        if self.spec.sql is None:
            return self.spec
        return dataclasses.replace(self.spec, sql=render_template(self.spec.sql, template_values(ctx), what="sql"))

    def translate_error(self, error: Exception) -> BaseException:
        import psycopg

        if isinstance(error, psycopg.Error):
            return statement_error(self.conn, error, None)
        return error
