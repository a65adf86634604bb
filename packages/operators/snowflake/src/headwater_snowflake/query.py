"""``snowflake.query``: run SQL (a string or a file, one statement or a script) and hand the result downstream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from headwater import DefinitionError, Operator
from headwater.plugin import SqlSource, check_parameters, render_parameters
from headwater_snowflake.base import SessionOptions, report_sql_lineage

if TYPE_CHECKING:
    from typing import Unpack

    from headwater.plugin import Context, TaskOptionArgs

DEFAULT_MAX_ROWS = 1000


class SnowflakeOperator(Operator):
    """Run SQL on a Snowflake connection: one statement or a script, statement by statement.

    The result is the rows of the last statement when it is a query (SELECT, WITH, SHOW, DESCRIBE, LIST,
    CALL), as a list of dicts (at most ``max_rows``: more fails the task), or else its row count (rows
    inserted, updated, deleted...). ``parameters`` (a list) are bound by Snowflake to the ``?`` (or ``:1``)
    placeholders of each statement that has them. With ``autocommit=False`` the script runs in one
    transaction, committed at the end (Snowflake commits DDL statements at once regardless).
    """

    operator_name = "snowflake.query"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        sql: str | None = None,
        sql_file: str | None = None,
        parameters: Sequence[object] | None = None,
        warehouse: str | None = None,
        backfill_warehouse: str | None = None,
        query_tag: str | bool | None = None,
        autocommit: bool = True,
        max_rows: int | None = DEFAULT_MAX_ROWS,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        self.session_options = SessionOptions.build(
            task_id, conn=conn, warehouse=warehouse, backfill_warehouse=backfill_warehouse, query_tag=query_tag
        )
        self.conn = self.session_options.conn
        self.source = SqlSource(task_id, sql, sql_file, dialect="snowflake")
        self.parameters = check_parameters(parameters, task_id, named=None, positional="? (or :1, :2)")
        if not isinstance(autocommit, bool):
            raise DefinitionError(f"task '{task_id}': autocommit: expected true or false", tasks=[task_id])
        if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0):
            raise DefinitionError(f"task '{task_id}': max_rows: expected a whole number >= 0", tasks=[task_id])
        self.autocommit = autocommit
        self.max_rows = max_rows
        super().__init__(task_id, **options)

    def describe(self) -> str:
        return f"{self.session_options.describe()}: {self.source.describe()}"

    def execute(self, ctx: Context) -> object:
        sql, statements = self.source.script(ctx)
        parameters = render_parameters(self.parameters, ctx)
        settings = self.session_options.settings(ctx)
        report_sql_lineage(ctx, settings, sql)
        with self.session_options.open(ctx, autocommit=self.autocommit) as session:
            rows, rowcount = session.run_script(
                statements, parameters=parameters, source=self.source.label, max_rows=self.max_rows
            )
        ctx.add_metadata(statements=len(statements), rows=len(rows) if rows is not None else rowcount)
        return rows if rows is not None else rowcount
