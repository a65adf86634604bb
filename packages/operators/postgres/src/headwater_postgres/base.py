"""What the Postgres operators share: the ``conn`` argument, SQL from a string or file, lineage names, values."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater import DefinitionError
from headwater.plugin import PermanentError, check_template, render_template, tables_in, template_values

if TYPE_CHECKING:
    import psycopg

    from headwater.plugin import Context

Parameters = Mapping[str, object] | Sequence[object] | None


def check_conn(conn: object, task_id: str) -> str:
    if not isinstance(conn, str) or not conn.strip():
        raise DefinitionError(f"task '{task_id}': conn: expected a connection id, got {conn!r}", tasks=[task_id])
    return conn


def check_parameters(parameters: object, task_id: str) -> Parameters:
    if parameters is None or isinstance(parameters, Mapping):
        return parameters
    if isinstance(parameters, Sequence) and not isinstance(parameters, str | bytes):
        return parameters
    raise DefinitionError(
        f"task '{task_id}': parameters: expected a mapping (for %(name)s) or a list (for %s), got {parameters!r}",
        tasks=[task_id],
    )


class SqlSource:
    """SQL given as ``sql=`` (checked when defined) or ``sql_file=`` (read when the task runs), with placeholders."""

    def __init__(self, task_id: str, sql: str | None, sql_file: str | None) -> None:
        if (sql is None) == (sql_file is None):
            raise DefinitionError(f"task '{task_id}': give either sql= or sql_file=", tasks=[task_id])
        if sql is not None and (not isinstance(sql, str) or not sql.strip()):
            raise DefinitionError(f"task '{task_id}': sql: expected SQL text, got {sql!r}", tasks=[task_id])
        if sql_file is not None and (not isinstance(sql_file, str | Path) or not str(sql_file).strip()):
            raise DefinitionError(f"task '{task_id}': sql_file: expected a path, got {sql_file!r}", tasks=[task_id])
        self.sql = sql
        self.sql_file = None if sql_file is None else str(sql_file)
        check_template(sql if sql is not None else str(sql_file), task_id=task_id, what="sql" if sql else "sql_file")

    def describe(self) -> str:
        if self.sql_file is not None:
            return self.sql_file
        text = " ".join(self.sql.split()) if self.sql else ""
        return text if len(text) <= 60 else text[:59] + "…"

    @property
    def label(self) -> str | None:
        """How errors name where the SQL came from (the file), None for inline SQL."""
        return self.sql_file

    def load(self, ctx: Context) -> str:
        """The SQL with its placeholders filled (a relative ``sql_file`` starts at the project directory)."""
        values = template_values(ctx)
        if self.sql is not None:
            return render_template(self.sql, values, what="sql")
        path = ctx.path(render_template(str(self.sql_file), values, what="sql_file"))
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PermanentError(f"sql_file: cannot read {path}: {exc.strerror or exc}") from None
        return render_template(text, values, what=str(self.sql_file))


def render_parameters(parameters: Parameters, ctx: Context) -> Parameters:
    """Placeholders in string parameter values filled from the context (then bound by psycopg, never spliced)."""
    if parameters is None:
        return None
    values = template_values(ctx)

    def one(value: object) -> object:
        return render_template(value, values, what="parameters") if isinstance(value, str) else value

    if isinstance(parameters, Mapping):
        return {key: one(value) for key, value in parameters.items()}
    return [one(value) for value in parameters]


def qualified(name: str) -> str:
    """A table name with PostgreSQL's default schema when it has none (``orders`` -> ``public.orders``)."""
    return name if "." in name else f"public.{name}"


def dataset(conn_id: str, table: str) -> str:
    """The lineage name of a table: ``postgres://warehouse/public.orders``."""
    return f"postgres://{conn_id}/{qualified(table)}"


def report_sql_lineage(ctx: Context, conn_id: str, sql: str) -> tuple[list[str], list[str]]:
    """Report the tables ``sql`` reads and writes (best effort: nothing for SQL sqlglot cannot parse)."""
    reads, writes = tables_in(sql, "postgres")
    read_sets = [dataset(conn_id, t) for t in reads]
    write_sets = [dataset(conn_id, t) for t in writes]
    ctx.report_lineage(reads=read_sets, writes=write_sets)
    return read_sets, write_sets


def jsonable(value: object) -> object:
    """A database value as JSON: numerics -> float (int when whole), dates and times -> ISO 8601, uuid -> str."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


@contextmanager
def opened(ctx: Context, conn_id: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection[Any]]:
    """A connection for ``conn_id`` (from ``HEADWATER_CONN_<ID>`` or the config), closed afterwards."""
    from headwater_postgres.connection import connect, describe

    connection_info = ctx.connection(conn_id)
    ctx.log.info("connecting to postgres %r (%s)", conn_id, describe(connection_info))
    conn = connect(connection_info, autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()
