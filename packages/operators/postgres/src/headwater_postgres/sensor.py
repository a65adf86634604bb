"""``postgres.sensor`` (also ``sql.condition``): wait until a query's first cell is truthy."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from headwater import Sensor
from headwater.plugin import (
    SqlParameters,
    SqlSource,
    Statement,
    check_conn,
    check_parameters,
    json_value,
    render_parameters,
)
from headwater_postgres.base import opened
from headwater_postgres.errors import statement_error

Duration = timedelta | float | str

if TYPE_CHECKING:
    from typing import Unpack

    from headwater.plugin import Context, TaskOptionArgs


class SqlSensor(Sensor):
    """Poke a query every ``poke_interval`` until its first row's first cell is truthy (not NULL, 0, false,
    ''); that value is the task's result. No row counts as false. Gives up after ``wait_timeout``."""

    operator_name = "postgres.sensor"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        sql: str | None = None,
        sql_file: str | None = None,
        parameters: SqlParameters = None,
        poke_interval: Duration = "30s",
        wait_timeout: Duration = "1h",
        mode: Literal["poke", "reschedule"] = "poke",
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        self.conn = check_conn(conn, task_id)
        self.source = SqlSource(task_id, sql, sql_file)
        self.parameters = check_parameters(parameters, task_id)
        super().__init__(task_id, poke_interval=poke_interval, wait_timeout=wait_timeout, mode=mode, **options)

    def describe(self) -> str:
        return f"wait on postgres {self.conn}: {self.source.describe()}"

    def poke(self, ctx: Context) -> object:
        import psycopg

        sql = self.source.load(ctx)
        statement = Statement(sql.strip().rstrip(";"), 1, 1)
        parameters = render_parameters(self.parameters, ctx)
        with opened(ctx, self.conn, autocommit=True) as conn, conn.cursor() as cursor:
            try:
                cursor.execute(statement.text, parameters)
                row = cursor.fetchone() if cursor.description is not None else None
            except psycopg.Error as exc:
                raise statement_error(self.conn, exc, statement, source=self.source.label) from None
        value = json_value(row[0]) if row else None
        ctx.log.info("poke: %r", value)
        return value if value else False
