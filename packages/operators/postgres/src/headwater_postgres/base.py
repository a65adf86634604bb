"""What the Postgres operators share: lineage names and the connection (SQL sources are the core's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from headwater.plugin import tables_in

if TYPE_CHECKING:
    import psycopg

    from headwater.plugin import Context


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
