"""``postgres.copy``: load a CSV file into a table with ``COPY ... FROM STDIN`` (streamed, one transaction)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from headwater import DefinitionError, Operator
from headwater.plugin import (
    PermanentError,
    Statement,
    check_conn,
    check_template,
    quote_identifier,
    quote_table,
    render_template,
    template_values,
)
from headwater_postgres.base import dataset, opened
from headwater_postgres.errors import statement_error

if TYPE_CHECKING:
    from typing import Unpack

    from headwater.plugin import Context, TaskOptionArgs

CHUNK = 1 << 20


class PostgresCopyLoad(Operator):
    """Load the CSV file at ``path`` into ``table``; the result is the number of rows loaded.

    ``truncate=True`` empties the table first, in the same transaction: readers see the old rows or the
    new ones, never an empty table.
    """

    operator_name = "postgres.copy"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        table: str,
        path: str,
        columns: Sequence[str] | None = None,
        header: bool = True,
        delimiter: str = ",",
        null: str = "",
        truncate: bool = False,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        self.conn = check_conn(conn, task_id)
        try:
            self.table_sql = quote_table(table, "postgres")
            column_list = [columns] if isinstance(columns, str) else list(columns or [])
            self.columns_sql = [quote_identifier(column, "postgres") for column in column_list]
        except DefinitionError as exc:
            raise DefinitionError(f"task '{task_id}': {exc.message}", tasks=[task_id]) from None
        if not isinstance(path, str | os.PathLike) or not str(path).strip():
            raise DefinitionError(f"task '{task_id}': path: expected a file path, got {path!r}", tasks=[task_id])
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise DefinitionError(f"task '{task_id}': delimiter: expected one character", tasks=[task_id])
        if not isinstance(null, str):
            raise DefinitionError(f"task '{task_id}': null: expected the text that stands for NULL", tasks=[task_id])
        check_template(str(path), task_id=task_id, what="path")
        self.table = table
        self.path = str(path)
        self.header = bool(header)
        self.delimiter = delimiter
        self.null = null
        self.truncate = bool(truncate)
        super().__init__(task_id, **options)

    def describe(self) -> str:
        return f"postgres {self.conn}: COPY {self.path} -> {self.table}"

    def copy_statement(self) -> str:
        """The ``COPY`` statement the task sends."""
        from psycopg import sql as pgsql

        columns = f" ({', '.join(self.columns_sql)})" if self.columns_sql else ""
        options = pgsql.SQL("FORMAT csv, HEADER {}, DELIMITER {}, NULL {}").format(
            pgsql.SQL("true" if self.header else "false"), pgsql.Literal(self.delimiter), pgsql.Literal(self.null)
        )
        return f"COPY {self.table_sql}{columns} FROM STDIN WITH ({options.as_string()})"

    def execute(self, ctx: Context) -> int:
        import psycopg

        source = ctx.path(render_template(self.path, template_values(ctx), what="path"))
        if not source.is_file():
            raise PermanentError(f"postgres.copy: no file at {source}")
        ctx.report_lineage(reads=[source.resolve().as_uri()], writes=[dataset(self.conn, self.table)])
        statements = [Statement(f"TRUNCATE {self.table_sql}", 1, 1)] if self.truncate else []
        copy = Statement(self.copy_statement(), len(statements) + 1, 1)
        with opened(ctx, self.conn) as conn, conn.cursor() as cursor:
            current = copy
            try:
                for statement in statements:
                    current = statement
                    ctx.log.info("%s", statement.text)
                    cursor.execute(statement.text)
                current = copy
                ctx.log.info("%s (from %s)", copy.text, source)
                with source.open("rb") as file, cursor.copy(copy.text) as stream:
                    while chunk := file.read(CHUNK):
                        stream.write(chunk)
                rows = max(cursor.rowcount, 0)
                conn.commit()
            except psycopg.Error as exc:
                raise statement_error(self.conn, exc, current, source=str(source)) from None
        ctx.log.info("loaded %d row(s) into %s", rows, self.table)
        ctx.add_metadata(rows=rows)
        return rows
