"""What the Snowflake operators share: ``conn``, the warehouse per lane, the query tag, lineage names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headwater import DefinitionError
from headwater.plugin import check_conn, check_template, render_template, tables_in, template_values
from headwater_snowflake.connection import SnowflakeSettings
from headwater_snowflake.session import SnowflakeSession

if TYPE_CHECKING:
    from headwater.plugin import Context

#: The lane of a run that is part of a backfill (``ctx.lane``).
BACKFILL_LANE = "backfill"
#: Snowflake keeps at most this many characters of a query tag.
QUERY_TAG_LIMIT = 2000


def _check_name(value: object, task_id: str, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(f"task '{task_id}': {what}: expected a name, got {value!r}", tasks=[task_id])
    check_template(value, task_id=task_id, what=what)
    return value


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """How a task's session is opened: the connection, the warehouse (per lane) and the query tag.

    ``warehouse``: the warehouse every run uses (default: the connection's). ``backfill_warehouse``: the
    warehouse runs of a backfill use instead, so a backfill does not queue behind (or slow down) the daily
    runs. ``query_tag``: the session's QUERY_TAG; None tags every query with the pipeline, run, task and try
    (JSON), ``False`` or ``""`` sets none. Names and tags may use ``{{ ds }}``-style placeholders.
    """

    task_id: str
    conn: str
    warehouse: str | None = None
    backfill_warehouse: str | None = None
    query_tag: str | bool | None = None

    @classmethod
    def build(
        cls,
        task_id: str,
        *,
        conn: object,
        warehouse: object = None,
        backfill_warehouse: object = None,
        query_tag: object = None,
    ) -> SessionOptions:
        """Validate user values (DefinitionError naming the task)."""
        if query_tag is not None and not isinstance(query_tag, str | bool):
            raise DefinitionError(
                f"task '{task_id}': query_tag: expected text, false or null, got {query_tag!r}", tasks=[task_id]
            )
        if query_tag is True:
            query_tag = None
        if isinstance(query_tag, str):
            if len(query_tag) > QUERY_TAG_LIMIT:
                raise DefinitionError(
                    f"task '{task_id}': query_tag: at most {QUERY_TAG_LIMIT} characters", tasks=[task_id]
                )
            check_template(query_tag, task_id=task_id, what="query_tag")
        return cls(
            task_id=task_id,
            conn=check_conn(conn, task_id),
            warehouse=_check_name(warehouse, task_id, "warehouse"),
            backfill_warehouse=_check_name(backfill_warehouse, task_id, "backfill_warehouse"),
            query_tag=query_tag,
        )

    def settings(self, ctx: Context) -> SnowflakeSettings:
        """The connection's settings (``HEADWATER_CONN_<ID>`` or the config)."""
        return SnowflakeSettings.from_connection(ctx.connection(self.conn))

    def tag(self, ctx: Context) -> str | None:
        """The query tag of this try's session."""
        if self.query_tag is False or self.query_tag == "":
            return None
        if isinstance(self.query_tag, str):
            return render_template(self.query_tag, template_values(ctx), what="query_tag")[:QUERY_TAG_LIMIT]
        tag = {
            "app": "headwater",
            "pipeline": ctx.pipeline_id,
            "run_id": ctx.run_id,
            "task": ctx.task_id,
            "try": ctx.try_number,
            "lane": ctx.lane,
        }
        if ctx.partition is not None:
            tag["partition"] = ctx.partition
        return json.dumps(tag, separators=(",", ":"))[:QUERY_TAG_LIMIT]

    def warehouse_for(self, ctx: Context) -> tuple[str, str] | None:
        """``(warehouse, why)`` this try switches to, or None to stay on the connection's warehouse."""
        values = template_values(ctx)
        if ctx.lane == BACKFILL_LANE and self.backfill_warehouse:
            name = render_template(self.backfill_warehouse, values, what="backfill_warehouse")
            return name, "backfill_warehouse: this run is part of a backfill"
        if self.warehouse:
            return render_template(self.warehouse, values, what="warehouse"), "warehouse"
        return None

    @contextmanager
    def open(self, ctx: Context, *, autocommit: bool = True) -> Iterator[SnowflakeSession]:
        """An open session for this try, on the warehouse this try's lane calls for."""
        settings = self.settings(ctx)
        with SnowflakeSession(settings, log=ctx.log, query_tag=self.tag(ctx), autocommit=autocommit) as session:
            switch = self.warehouse_for(ctx)
            if switch is not None:
                name, why = switch
                session.use_warehouse(name, why=why)
            elif ctx.lane == BACKFILL_LANE:
                ctx.log.info(
                    "this run is part of a backfill: it runs on the connection's warehouse "
                    "(set backfill_warehouse= to send backfills to separate compute)"
                )
            yield session

    def describe(self) -> str:
        text = f"snowflake {self.conn}"
        if self.warehouse:
            text += f" on {self.warehouse}"
        if self.backfill_warehouse:
            text += f" (backfills on {self.backfill_warehouse})"
        return text


def table_name(table: str) -> str:
    """A table name as Snowflake resolves it: unquoted parts upper-cased (``raw.orders`` -> ``RAW.ORDERS``)."""
    reads, _ = tables_in(f"SELECT * FROM {table}", "snowflake")  # noqa: S608 - parsed, never run
    if len(reads) == 1:
        return reads[0]
    return ".".join(part.strip('"') if part.startswith('"') else part.upper() for part in table.split("."))


def qualified(settings: SnowflakeSettings, table: str) -> str:
    """``table`` (as :func:`table_name` gives it) with the connection's database and schema when it has none."""
    parts = table.split(".")
    if len(parts) == 1 and settings.schema:
        parts.insert(0, settings.schema.upper())
    if len(parts) == 2 and settings.database:
        parts.insert(0, settings.database.upper())
    return ".".join(parts)


def dataset(settings: SnowflakeSettings, table: str) -> str:
    """The lineage name of a table: ``snowflake://warehouse/ANALYTICS.PUBLIC.ORDERS``."""
    return f"snowflake://{settings.conn_id}/{qualified(settings, table)}"


def report_sql_lineage(ctx: Context, settings: SnowflakeSettings, sql: str) -> tuple[list[str], list[str]]:
    """Report the tables ``sql`` reads and writes (best effort: nothing for SQL sqlglot cannot parse)."""
    reads, writes = tables_in(sql, "snowflake")
    read_sets = [dataset(settings, table) for table in reads]
    write_sets = [dataset(settings, table) for table in writes]
    ctx.report_lineage(reads=read_sets, writes=write_sets)
    return read_sets, write_sets
