"""What a failed connection or statement becomes: a permanent SnowflakeError or a retryable SnowflakeUnavailable."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from headwater.plugin import PermanentError, mask

if TYPE_CHECKING:
    from headwater.plugin import Statement

#: Error numbers that may pass if the work is tried again: a statement or warehouse timeout (630), a session
#: that expired or is gone (390111, 390112, 390114), a connection closed, a request or server that failed, a
#: connection timeout, an answer the connector calls retryable (250002, 250003, 250005, 251011, 251012).
TRANSIENT_ERRNOS = frozenset({630, 390111, 390112, 390114, 250002, 250003, 250005, 251011, 251012})
#: How much of Snowflake's message an error keeps (a longer one is cut, marked with …).
MESSAGE_LIMIT = 600
# Snowflake says "syntax error line 3 at position 2"; other messages say "Line 3, Col: 6" or "line 3".
_LINE = re.compile(r"\bline (\d+)", re.IGNORECASE)
# The connector's "002003 (42S02): " prefix, when the message already carries it.
_CODED = re.compile(r"^\d{6}( \([0-9A-Za-z/]+\))?: ")


class SnowflakeError(PermanentError):
    """A statement or login Snowflake refused (bad SQL, a missing table or stage, refused credentials): not retried."""

    def __init__(
        self, message: str, *, errno: int | None = None, sqlstate: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.errno = errno
        self.sqlstate = sqlstate
        self.line = line


class SnowflakeUnavailable(ConnectionError):  # noqa: N818 - reads as `except SnowflakeUnavailable`
    """Snowflake could not be reached, timed out, or answered 429/5xx: retried under the default ``retry_on``
    and under ``retry_on=(ConnectionError, TimeoutError)``."""


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (a connector or network error) may pass if the work is tried again."""
    if isinstance(exc, OSError):  # ConnectionError, TimeoutError, socket errors
        return True
    import snowflake.connector.errors as sf

    if isinstance(exc, sf.NonRetryableTlsError | sf.RevocationCheckError):
        return False
    retryable = (
        sf.OperationalError,
        sf.InternalServerError,
        sf.ServiceUnavailableError,
        sf.GatewayTimeoutError,
        sf.BadGatewayError,
        sf.TooManyRequests,
        sf.OtherHTTPRetryableError,
        sf.RequestTimeoutError,
        sf.RequestExceedMaxRetryError,
    )
    if isinstance(exc, retryable):
        return True
    return isinstance(exc, sf.Error) and exc.errno in TRANSIENT_ERRNOS


def _message(exc: BaseException) -> str:
    """Snowflake's message on one line, prefixed by its error number and SQLSTATE (``002003 (42S02): ...``),
    masked and cut to a readable length."""
    raw = " ".join(str(getattr(exc, "raw_msg", None) or exc or type(exc).__name__).split())
    if not _CODED.match(raw):
        raw = _code(exc) + raw
    text = mask(raw)
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _code(exc: BaseException) -> str:
    errno = getattr(exc, "errno", None)
    sqlstate = getattr(exc, "sqlstate", None)
    if not isinstance(errno, int) or errno <= 0 or isinstance(exc, OSError):
        return ""
    if isinstance(sqlstate, str) and sqlstate and sqlstate != "n/a":
        return f"{errno:06d} ({sqlstate}): "
    return f"{errno:06d}: "


def connect_error(conn_id: str, exc: BaseException, location: str | None = None) -> Exception:
    """A failed login: unreachable or timed out -> SnowflakeUnavailable; refused -> SnowflakeError."""
    text = f"snowflake connection {conn_id!r}: "
    message = _message(exc)
    if is_transient(exc):
        return SnowflakeUnavailable(f"{text}cannot connect{f' to {location}' if location else ''}: {message}")
    return SnowflakeError(f"{text}login refused: {message}", errno=_errno(exc), sqlstate=_sqlstate(exc))


def statement_error(
    conn_id: str, exc: BaseException, statement: Statement | None, *, total: int = 1, source: str | None = None
) -> Exception:
    """A failed statement, with Snowflake's own message and the line it failed on (of the script or file)."""
    message = _message(exc)
    line: int | None = None
    where = ""
    if statement is not None:
        line = statement.line
        found = _LINE.search(message)
        if found:  # Snowflake numbers lines within the statement it was sent
            line = statement.script_line(int(found.group(1)))
        where = f"line {line}"
        if source:
            where = f"{source} {where}"
        if total > 1:
            where += f", statement {statement.index} of {total}"
    text = f"snowflake {conn_id!r}: {message}"
    if where:
        text += f" ({where})"
    if is_transient(exc):
        return SnowflakeUnavailable(text)
    return SnowflakeError(text, errno=_errno(exc), sqlstate=_sqlstate(exc), line=line)


def _errno(exc: BaseException) -> int | None:
    errno = getattr(exc, "errno", None)
    return errno if isinstance(errno, int) and errno > 0 else None


def _sqlstate(exc: BaseException) -> str | None:
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) and sqlstate != "n/a" else None
