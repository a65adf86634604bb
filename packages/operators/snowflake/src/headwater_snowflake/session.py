"""One task try's Snowflake session: runs statements one by one, logs each, and records what it ran."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from headwater.plugin import PermanentError, Statement, json_value, mask, quote_identifier, split_statements
from headwater_snowflake.connection import SnowflakeSettings, open_connection
from headwater_snowflake.errors import statement_error

if TYPE_CHECKING:
    import logging

    from snowflake.connector import SnowflakeConnection

#: Statements whose result is rows (handed downstream); any other statement's result is its row count.
ROW_STATEMENTS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "LIST", "LS", "CALL", "VALUES", "TABLE"})
#: Statements whose row count is the rows they changed.
DML_STATEMENTS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "COPY"})


class SnowflakeSession:
    """A Snowflake connection for one try, used as a context manager (closed on exit, rolled back on error).

    Every statement it runs is logged (number, script line, text, query id) and kept in :attr:`executed`,
    in order, so what a try did is visible in its log.
    """

    def __init__(
        self,
        settings: SnowflakeSettings,
        *,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
        query_tag: str | None = None,
        autocommit: bool = True,
    ) -> None:
        self.settings = settings
        self.log = log
        self.query_tag = query_tag
        self.autocommit = autocommit
        #: The text of every statement run so far, in order.
        self.executed: list[str] = []
        self._connection: SnowflakeConnection | None = None

    @property
    def connection(self) -> SnowflakeConnection:
        """The connector connection (opened by ``__enter__``)."""
        if self._connection is None:
            raise RuntimeError("the Snowflake session is not open: use it in a `with` block")
        return self._connection

    def __enter__(self) -> SnowflakeSession:
        self.log.info("connecting to snowflake %r (%s)", self.settings.conn_id, self.settings.describe())
        if self.query_tag:
            self.log.info("query tag: %s", self.query_tag)
        self._connection = open_connection(self.settings, query_tag=self.query_tag)
        if not self.autocommit:
            self._connection.autocommit(False)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        import snowflake.connector

        try:
            if not self.autocommit:
                if error is None:
                    self.log.info("committing")
                    connection.commit()
                else:
                    connection.rollback()
        except (snowflake.connector.Error, OSError) as exc:
            if error is None:  # a failed commit fails the task; a failed rollback must not hide the first error
                raise statement_error(self.settings.conn_id, exc, None) from None
        finally:
            try:
                connection.close()
            except (snowflake.connector.Error, OSError) as exc:  # the work is done; a session left open expires
                self.log.warning("could not close the snowflake session: %s", mask(str(exc)))

    def detach(self) -> SnowflakeConnection:
        """Hand the open connection over to the caller (who closes it); the session no longer owns it."""
        connection = self.connection
        self._connection = None
        return connection

    def use_warehouse(self, warehouse: str, *, why: str) -> None:
        """Switch the session to ``warehouse`` (``USE WAREHOUSE``), saying why in the log."""
        self.log.info("using warehouse %s (%s)", warehouse, why)
        sql = f"USE WAREHOUSE {quote_identifier(warehouse, 'snowflake')}"
        self.run(split_statements(sql, "snowflake")[0])

    def run_script(
        self,
        statements: Sequence[Statement],
        *,
        parameters: Sequence[object] | None = None,
        source: str | None = None,
        max_rows: int | None = None,
    ) -> tuple[list[dict[str, object]] | None, int]:
        """Run ``statements`` in order; the result of the last one (see :meth:`run`).

        ``parameters`` are bound to each statement that has ``?`` or ``:1`` placeholders.
        """
        result: tuple[list[dict[str, object]] | None, int] = (None, -1)
        for statement in statements:
            params = parameters if parameters is not None and statement.has_placeholders else None
            result = self.run(statement, params, total=len(statements), source=source, max_rows=max_rows)
        return result

    def run(
        self,
        statement: Statement,
        parameters: Sequence[object] | None = None,
        *,
        total: int = 1,
        source: str | None = None,
        max_rows: int | None = None,
        keep_rows: bool | None = None,
    ) -> tuple[list[dict[str, object]] | None, int]:
        """Run one statement: ``(rows, rowcount)``, rows (dicts) when it is a query (SELECT, SHOW...), else None
        (``keep_rows=True`` keeps the rows of any statement: PUT and COPY report one row per file).

        A failed statement raises SnowflakeError (permanent) or SnowflakeUnavailable (retryable) with
        Snowflake's message and the script line. More than ``max_rows`` rows fails the task.
        """
        import snowflake.connector

        where = f"line {statement.line}"
        if total > 1:
            where = f"statement {statement.index}/{total} ({where})"
        self.log.info("%s: %s", where, mask(statement.preview()))
        self.executed.append(statement.text)
        cursor = self.connection.cursor()
        try:
            cursor.execute(statement.text, parameters)
            rows: list[dict[str, object]] | None = None
            if keep_rows is None:
                keep_rows = statement.first_word in ROW_STATEMENTS
            if cursor.description is not None and keep_rows:
                fetched = cursor.fetchmany(max_rows + 1) if max_rows is not None else cursor.fetchall()
                if max_rows is not None and len(fetched) > max_rows:
                    raise PermanentError(
                        f"snowflake {self.settings.conn_id!r}: {where} returned more than max_rows={max_rows} rows: "
                        "unload large results to a stage (COPY INTO @stage) instead, or raise max_rows"
                    )
                names = [column.name for column in cursor.description]
                rows = [{name: json_value(value) for name, value in zip(names, row, strict=True)} for row in fetched]
            rowcount = cursor.rowcount if cursor.rowcount is not None else -1
            if rows is not None:
                outcome = f"{len(rows)} row(s)"
            elif statement.first_word in DML_STATEMENTS and rowcount >= 0:
                outcome = f"{rowcount} row(s) affected"
            else:
                outcome = "done"
            label = f"statement {statement.index}" if total > 1 else "statement"
            self.log.info("%s: %s, query id %s", label, outcome, cursor.sfqid or "-")
            return rows, rowcount
        except snowflake.connector.Error as exc:
            raise statement_error(self.settings.conn_id, exc, statement, total=total, source=source) from None
        except OSError as exc:
            raise statement_error(self.settings.conn_id, exc, statement, total=total, source=source) from None
        finally:
            cursor.close()
