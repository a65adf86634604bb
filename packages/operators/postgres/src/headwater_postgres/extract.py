"""``postgres.extract``: a query's rows to a CSV file (``COPY ... TO STDOUT``) or a Parquet file (pyarrow)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from headwater import DefinitionError, Operator
from headwater.plugin import (
    PermanentError,
    SqlParameters,
    SqlSource,
    Statement,
    check_conn,
    check_parameters,
    check_template,
    render_parameters,
    render_template,
    split_statements,
    template_values,
)
from headwater_postgres.base import opened, report_sql_lineage
from headwater_postgres.errors import statement_error

if TYPE_CHECKING:
    from typing import Unpack

    import psycopg

    from headwater.plugin import Context, TaskOptionArgs

Format = Literal["csv", "parquet"]
BATCH_ROWS = 10_000


class PostgresExtract(Operator):
    """Write the rows of one query to ``path`` (CSV with a header, or Parquet); the result is
    ``{"path": ..., "rows": n, "format": ...}``. The file appears whole or not at all."""

    operator_name = "postgres.extract"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        path: str,
        sql: str | None = None,
        sql_file: str | None = None,
        parameters: SqlParameters = None,
        format: Format | None = None,  # noqa: A002 - the natural name in YAML
        delimiter: str = ",",
        header: bool = True,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        self.conn = check_conn(conn, task_id)
        self.source = SqlSource(task_id, sql, sql_file)
        self.parameters = check_parameters(parameters, task_id)
        if not isinstance(path, str | os.PathLike) or not str(path).strip():
            raise DefinitionError(f"task '{task_id}': path: expected a file path, got {path!r}", tasks=[task_id])
        self.path = str(path)
        check_template(self.path, task_id=task_id, what="path")
        suffix = Path(self.path).suffix.lower().lstrip(".")
        chosen = format or ("parquet" if suffix in ("parquet", "pq") else "csv" if suffix == "csv" else None)
        if chosen not in ("csv", "parquet"):
            raise DefinitionError(
                f"task '{task_id}': format: expected 'csv' or 'parquet' (or a path ending in .csv or .parquet), "
                f"got {format or self.path!r}",
                tasks=[task_id],
            )
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise DefinitionError(f"task '{task_id}': delimiter: expected one character", tasks=[task_id])
        if sql is not None and len(split_statements(sql, "postgres")) != 1:
            raise DefinitionError(f"task '{task_id}': sql: expected exactly one query", tasks=[task_id])
        self.format: Format = chosen
        self.delimiter = delimiter
        self.header = bool(header)
        super().__init__(task_id, **options)

    def describe(self) -> str:
        return f"postgres {self.conn}: {self.source.describe()} -> {self.path}"

    def execute(self, ctx: Context) -> dict[str, object]:
        sql = self.source.load(ctx)
        statements = split_statements(sql, "postgres")
        if len(statements) != 1:
            raise PermanentError(f"{self.source.label or 'sql'}: expected exactly one query, found {len(statements)}")
        [statement] = statements
        target = ctx.path(render_template(self.path, template_values(ctx), what="path"))
        target.parent.mkdir(parents=True, exist_ok=True)
        parameters = render_parameters(self.parameters, ctx)
        report_sql_lineage(ctx, self.conn, sql)
        ctx.report_lineage(writes=[target.as_uri()])
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as out, opened(ctx, self.conn) as conn:
                if self.format == "csv":
                    rows = self._csv(conn, statement, parameters, out)
                else:
                    rows = self._parquet(conn, statement, parameters, out)
                conn.rollback()  # an extract only reads
            temp.replace(target)
        finally:
            temp.unlink(missing_ok=True)
        ctx.log.info("wrote %d row(s) to %s", rows, target)
        ctx.add_metadata(rows=rows, path=str(target), format=self.format)
        return {"path": str(target), "rows": rows, "format": self.format}

    def _csv(self, conn: psycopg.Connection[Any], statement: Statement, parameters: SqlParameters, out: Any) -> int:
        import psycopg
        from psycopg import sql as pgsql

        query = pgsql.SQL(statement.text)
        copy = pgsql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER {}, DELIMITER {})").format(
            query, pgsql.SQL("true" if self.header else "false"), pgsql.Literal(self.delimiter)
        )
        sent = Statement(copy.as_string(conn), 1, statement.line)  # "COPY (" adds no line: lines still match
        try:
            with conn.cursor() as cursor:
                with cursor.copy(copy, parameters) as stream:
                    for chunk in stream:
                        out.write(chunk)
                return max(cursor.rowcount, 0)
        except psycopg.Error as exc:
            raise statement_error(self.conn, exc, sent, source=self.source.label) from None

    def _parquet(self, conn: psycopg.Connection[Any], statement: Statement, parameters: SqlParameters, out: Any) -> int:
        import psycopg

        try:
            import pyarrow.parquet as pq  # type: ignore[import-untyped]
        except ImportError:
            raise PermanentError("Parquet output needs pyarrow: pip install 'headwater-postgres[parquet]'") from None
        from headwater_postgres.arrow import arrow_schema, to_arrow_batch

        rows = 0
        try:
            with conn.cursor(name=f"hw_extract_{os.getpid()}") as cursor:
                cursor.execute(statement.text, parameters)
                description = cursor.description or []
                schema = arrow_schema(description)
                with pq.ParquetWriter(out, schema) as writer:
                    while batch := cursor.fetchmany(BATCH_ROWS):
                        writer.write_batch(to_arrow_batch(batch, schema))
                        rows += len(batch)
        except psycopg.Error as exc:
            raise statement_error(self.conn, exc, statement, source=self.source.label) from None
        return rows
