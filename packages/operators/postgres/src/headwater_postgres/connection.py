"""The ``postgres``/``postgresql`` connection type: a ``Connection`` from a URI -> a psycopg connection.

``postgresql://user:password@host:5432/database?sslmode=require&connect_timeout=5``: every query option is a
libpq connection parameter (``sslmode``, ``sslrootcert``, ``connect_timeout``, ``application_name``,
``options``, ``target_session_attrs``...). ``connect_timeout`` defaults to 10 seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater_postgres.errors import PostgresError, connect_error

if TYPE_CHECKING:
    import psycopg

    from headwater import Connection

SCHEMES = ("postgres", "postgresql")
DEFAULT_CONNECT_TIMEOUT = "10"


def connection_params(conn: Connection) -> dict[str, Any]:
    """The libpq parameters for ``conn`` (the password included: never log them)."""
    params: dict[str, Any] = {
        "host": conn.host or "localhost",
        "connect_timeout": DEFAULT_CONNECT_TIMEOUT,
        "application_name": "headwater",
    }
    if conn.port:
        params["port"] = conn.port
    if conn.login:
        params["user"] = conn.login
    if conn.password:
        params["password"] = conn.password
    if conn.database:
        params["dbname"] = conn.database
    params.update(conn.extra)
    return params


def describe(conn: Connection) -> str:
    """``user@host:port/database``, for logs (no password)."""
    user = f"{conn.login}@" if conn.login else ""
    port = f":{conn.port}" if conn.port else ""
    return f"{user}{conn.host or 'localhost'}{port}/{conn.database or ''}"


def connect(conn: Connection, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A new psycopg connection for ``conn`` (``ctx.client(conn_id)`` returns one); the caller closes it.

    A server that cannot be reached raises PostgresUnavailable (retried); a login, database or option the
    server refuses raises PostgresError (not retried).
    """
    import psycopg

    if conn.scheme not in SCHEMES:
        raise PostgresError(
            f"connection {conn.conn_id!r} is a {conn.scheme}:// URI: the postgres operators need postgresql://"
        )
    try:
        return psycopg.connect(autocommit=autocommit, **connection_params(conn))
    except psycopg.Error as exc:
        raise connect_error(conn.conn_id, exc) from None
