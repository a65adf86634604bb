"""What a failed connection or statement becomes: a permanent PostgresError or a retryable PostgresUnavailable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater.plugin import PermanentError

if TYPE_CHECKING:
    import psycopg

    from headwater.plugin import Statement

# SQLSTATE classes and codes worth trying again: a lost connection, a serialization failure or deadlock,
# the server running out of resources, shutting down or starting up, a cancelled (timed out) statement.
_TRANSIENT_CLASSES = ("08", "40", "53", "58")
_TRANSIENT_CODES = {"57014", "57P01", "57P02", "57P03", "55P03"}
# Connection failures the server itself reports (``FATAL: ...``) that will pass on their own.
_TRANSIENT_FATAL = ("the database system is", "too many clients", "too many connections", "remaining connection slots")


class PostgresError(PermanentError):
    """A statement or connection PostgreSQL refused (bad SQL, a missing table, a refused login): not retried."""

    def __init__(self, message: str, *, sqlstate: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.line = line


class PostgresUnavailable(ConnectionError):  # noqa: N818 - reads as `except PostgresUnavailable`
    """The server could not be reached, dropped the connection, or asked to try again later (deadlock,
    serialization failure, shutdown): retried under the default ``retry_on`` and ``(ConnectionError,)``."""


def is_transient(sqlstate: str | None) -> bool:
    """Whether an error with this SQLSTATE may pass if the statement runs again."""
    return bool(sqlstate) and (sqlstate in _TRANSIENT_CODES or str(sqlstate)[:2] in _TRANSIENT_CLASSES)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def connect_error(conn_id: str, exc: psycopg.Error) -> Exception:
    """A failed connect: refused or timed out -> PostgresUnavailable; refused by the server -> PostgresError."""
    import psycopg

    text = _one_line(str(exc)).removeprefix("connection failed: ")
    where = f"postgres connection {conn_id!r}"
    if isinstance(exc, psycopg.ProgrammingError):  # an invalid connection option in the URI
        return PostgresError(f"{where}: {text}")
    fatal = "FATAL:" in text
    if fatal and not any(marker in text for marker in _TRANSIENT_FATAL):
        return PostgresError(f"{where}: {text}", sqlstate=exc.sqlstate)
    return PostgresUnavailable(f"{where}: cannot connect: {text}")


def statement_error(
    conn_id: str, exc: psycopg.Error, statement: Statement | None, *, total: int = 1, source: str | None = None
) -> Exception:
    """A failed statement, with PostgreSQL's own message and the line it failed on (of the script or file)."""
    import psycopg

    diag = exc.diag
    message = diag.message_primary or _one_line(str(exc)) or type(exc).__name__
    line: int | None = None
    where = ""
    if statement is not None:
        line = statement.line
        position = diag.statement_position
        if position and position.isdigit():
            line = statement.line_of(int(position) - 1)
        where = f"line {line}"
        if source:
            where = f"{source} {where}"
        if total > 1:
            where += f", statement {statement.index} of {total}"
    text = f"postgres {conn_id!r}: {message}"
    if exc.sqlstate:
        text += f" [{exc.sqlstate}]"
    if where:
        text += f" ({where})"
    for label, extra in (("detail", diag.message_detail), ("hint", diag.message_hint)):
        if extra:
            text += f"; {label}: {_one_line(extra)}"
    lost = isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and not exc.sqlstate
    if lost or is_transient(exc.sqlstate):
        return PostgresUnavailable(text)
    return PostgresError(text, sqlstate=exc.sqlstate, line=line)
