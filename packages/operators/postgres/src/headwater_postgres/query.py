"""``postgres.query``: run SQL (a string or a file, with placeholders) in one transaction; hand rows downstream."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from headwater import DefinitionError, Operator
from headwater.plugin import (
    PermanentError,
    SqlParameters,
    SqlSource,
    Statement,
    check_conn,
    check_parameters,
    json_value,
    render_parameters,
)
from headwater_postgres.base import opened, report_sql_lineage
from headwater_postgres.errors import statement_error

if TYPE_CHECKING:
    from typing import Unpack

    import psycopg

    from headwater.plugin import Context, TaskOptionArgs

# %s, %b, %t or %(name)s: a statement with one of these receives the parameters.
_PLACEHOLDER = re.compile(r"%(?:\([A-Za-z_][A-Za-z0-9_]*\))?[sbt]")
DEFAULT_MAX_ROWS = 1000


def run_statements(
    conn: psycopg.Connection[Any],
    statements: list[Statement],
    *,
    conn_id: str,
    ctx: Context,
    parameters: SqlParameters = None,
    source: str | None = None,
    max_rows: int | None = None,
) -> tuple[list[dict[str, object]] | None, int]:
    """Run ``statements`` on ``conn``; the rows of the last one that returns rows (None if none does) and
    the row count of the last statement. A failed statement raises PostgresError/PostgresUnavailable."""
    import psycopg

    rows: list[dict[str, object]] | None = None
    rowcount = -1
    with conn.cursor() as cursor:
        for statement in statements:
            params = parameters if parameters is not None and _PLACEHOLDER.search(statement.text) else None
            preview = " ".join(statement.text.split())
            ctx.log.info(
                "statement %d/%d (line %d): %s",
                statement.index,
                len(statements),
                statement.line,
                preview if len(preview) <= 200 else preview[:199] + "…",
            )
            try:
                cursor.execute(statement.text, params, prepare=False)
                if cursor.description is not None:
                    fetched = cursor.fetchmany(max_rows + 1) if max_rows is not None else cursor.fetchall()
                    if max_rows is not None and len(fetched) > max_rows:
                        raise PermanentError(
                            f"postgres {conn_id!r}: statement {statement.index} (line {statement.line}) returned more "
                            f"than max_rows={max_rows} rows: write large results to a file with postgres.extract, "
                            "or raise max_rows"
                        )
                    names = [column.name for column in cursor.description]
                    rows = [
                        {name: json_value(value) for name, value in zip(names, row, strict=True)} for row in fetched
                    ]
                rowcount = cursor.rowcount
            except psycopg.Error as exc:
                raise statement_error(conn_id, exc, statement, total=len(statements), source=source) from None
            ctx.log.info("statement %d: %s row(s)", statement.index, rowcount if rowcount >= 0 else "no")
    return rows, rowcount


class PostgresOperator(Operator):
    """Run SQL on a PostgreSQL connection: every statement in one transaction (committed at the end).

    The result is the rows of the last statement that returns rows, as a list of dicts (at most
    ``max_rows``: more fails the task), or else the row count of the last statement.
    """

    operator_name = "postgres.query"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        sql: str | None = None,
        sql_file: str | None = None,
        parameters: SqlParameters = None,
        autocommit: bool = False,
        max_rows: int | None = DEFAULT_MAX_ROWS,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        self.conn = check_conn(conn, task_id)
        self.source = SqlSource(task_id, sql, sql_file, dialect="postgres")
        self.parameters = check_parameters(parameters, task_id)
        if not isinstance(autocommit, bool):
            raise DefinitionError(f"task '{task_id}': autocommit: expected true or false", tasks=[task_id])
        if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0):
            raise DefinitionError(f"task '{task_id}': max_rows: expected a whole number >= 0", tasks=[task_id])
        self.autocommit = autocommit
        self.max_rows = max_rows
        super().__init__(task_id, **options)

    def describe(self) -> str:
        return f"postgres {self.conn}: {self.source.describe()}"

    def execute(self, ctx: Context) -> object:
        sql, statements = self.source.script(ctx)
        parameters = render_parameters(self.parameters, ctx)
        report_sql_lineage(ctx, self.conn, sql)
        with opened(ctx, self.conn, autocommit=self.autocommit) as conn:
            rows, rowcount = run_statements(
                conn,
                statements,
                conn_id=self.conn,
                ctx=ctx,
                parameters=parameters,
                source=self.source.label,
                max_rows=self.max_rows,
            )
            if not self.autocommit:
                conn.commit()
        ctx.add_metadata(statements=len(statements), rows=len(rows) if rows is not None else rowcount)
        return rows if rows is not None else rowcount
