"""Data-quality checks: the spec, the SQL per dialect, the report, the operator base (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from headwater import DataInterval, DefinitionError, Pipeline
from headwater.model.context import Context
from headwater.plugin import CheckSpec, DataQualityError, PermanentError, SqlCheckOperator, run_checks
from headwater.sql_checks import DBAPIConnection, build_checks, quote_identifier, quote_table, sql_literal
from headwater.testing import run_pipeline

ORDERS = [
    # id, amount, status, user (a reserved word)
    (1, 10.0, "open", "ada"),
    (2, 20.0, "paid", "bob"),
    (3, 30.0, "paid", "cy"),
]


def _spec(**overrides: Any) -> CheckSpec:
    kwargs: dict[str, Any] = {
        "table": "orders",
        "row_count_min": 1,
        "not_null": ["id", "amount"],
        "unique": ["id"],
        "accepted_values": {"status": ["open", "paid"]},
        "max_age": ("updated_at", "1d"),
    }
    kwargs.update(overrides)
    return CheckSpec.build(**kwargs)


# -- the spec ----------------------------------------------------------------------------------------------------


def test_the_public_example_builds_a_frozen_spec() -> None:
    spec = _spec(sql=None)
    assert spec.not_null == ("id", "amount")
    assert spec.unique == (("id",),)
    assert spec.accepted_values == (("status", ("open", "paid")),)
    assert spec.max_age == ("updated_at", 86400.0)
    with pytest.raises(AttributeError):
        spec.table = "other"  # type: ignore[misc]
    assert spec.describe() == (
        "orders: row_count>=1, not_null(id), not_null(amount), unique(id), accepted_values(status), max_age(updated_at)"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"table": ""}, "table: expected a table name"),
        ({"table": "a.b.c.d", "row_count_min": 1}, "expected [database.][schema.]table"),
        ({"table": '"a"b', "row_count_min": 1}, "expected '.' after a quoted name"),
        ({"table": "orders"}, "no check given for table 'orders'"),
        ({"table": "t", "row_count_min": -1}, "row_count_min: expected a whole number >= 0"),
        ({"table": "t", "row_count_min": True}, "row_count_min: expected a whole number >= 0"),
        ({"table": "t", "row_count_min": 5, "row_count_max": 2}, "row_count_min (5) is greater than row_count_max (2)"),
        ({"table": "t", "not_null": [""]}, "not_null: expected a column name"),
        ({"table": "t", "not_null": 3}, "not_null: expected a list of column names"),
        ({"table": "t", "unique": [[]]}, "unique: an empty list of columns"),
        ({"table": "t", "accepted_values": {"s": []}}, "accepted_values['s']: expected at least one value"),
        ({"table": "t", "accepted_values": {"s": "open"}}, "accepted_values['s']: expected a list of values"),
        ({"table": "t", "accepted_values": ["s"]}, "accepted_values: expected a mapping"),
        ({"table": "t", "accepted_values": {"s": [None]}}, "accepted_values: expected strings, numbers or booleans"),
        ({"table": "t", "max_age": "1d"}, "max_age: expected (timestamp column, duration)"),
        ({"table": "t", "max_age": ("ts", "soon")}, "max_age: cannot read 'soon' as a duration"),
        ({"table": "t", "max_age": ("ts", 0)}, "max_age: expected a duration greater than zero"),
        ({"table": "t", "sql": "  "}, "sql: expected a query"),
    ],
)
def test_bad_arguments_are_definition_errors_naming_the_task(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        CheckSpec.build(**kwargs, task_id="check_orders")
    assert str(info.value).startswith("task 'check_orders': ")
    assert message in str(info.value)
    assert info.value.tasks == ("check_orders",)


# -- identifiers, literals and the SQL per dialect ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "postgres", "snowflake", "sqlite"),
    [
        ("amount", "amount", "amount", "amount"),
        ("Amount", "Amount", "Amount", "Amount"),  # bare: folded by the database like the user's own SQL
        ("user", '"user"', '"USER"', '"user"'),  # reserved: quoted in the case bare names fold to
        ("order id", '"order id"', '"order id"', '"order id"'),
        ('"Order"', '"Order"', '"Order"', '"Order"'),  # quoted: kept exactly
        ('"a""b"', '"a""b"', '"a""b"', '"a""b"'),
    ],
)
def test_identifiers_are_quoted_per_dialect(name: str, postgres: str, snowflake: str, sqlite: str) -> None:
    assert [quote_identifier(name, d) for d in ("postgres", "snowflake", "sqlite")] == [postgres, snowflake, sqlite]


def test_tables_may_be_qualified_and_quoted() -> None:
    assert quote_table("analytics.orders", "postgres") == "analytics.orders"
    assert quote_table('db."My Schema".order', "snowflake") == 'db."My Schema"."ORDER"'
    with pytest.raises(DefinitionError, match="expected one name"):
        quote_identifier("a.b", "postgres")
    with pytest.raises(DefinitionError, match="empty name"):
        quote_table("a..b", "postgres")
    with pytest.raises(DefinitionError, match="unbalanced double quote"):
        quote_table('"a', "postgres")


def test_literals_cannot_break_out_of_their_quotes() -> None:
    assert sql_literal("it's", "postgres") == "'it''s'"
    assert sql_literal("a\\'; drop table t; --", "snowflake") == "'a\\\\''; drop table t; --'"
    assert sql_literal("a\\b", "postgres") == "'a\\b'"
    assert [sql_literal(v, "postgres") for v in (True, 3, 1.5)] == ["TRUE", "3", "1.5"]
    assert sql_literal(False, "sqlite") == "0"
    with pytest.raises(DefinitionError, match="finite"):
        sql_literal(float("nan"), "postgres")


def test_snowflake_sql_uses_its_own_now_and_folding() -> None:
    checks = {c.name: c for c in build_checks(_spec(table="raw.orders", not_null=["user"]), "snowflake")}
    assert checks["not_null(user)"].count_sql == 'SELECT COUNT(*) FROM raw.orders WHERE "USER" IS NULL'
    assert "DATEDIFF('second', max(updated_at), CURRENT_TIMESTAMP())" in checks["max_age(updated_at)"].count_sql
    assert "NOT IN ('open', 'paid')" in (checks["accepted_values(status)"].examples_sql or "")
    with pytest.raises(DefinitionError, match="unknown SQL dialect 'mysql'"):
        build_checks(_spec(), "mysql")  # type: ignore[arg-type]


# -- running the checks on SQLite --------------------------------------------------------------------------------


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "warehouse.db")
    conn.execute('CREATE TABLE orders (id INTEGER, amount REAL, status TEXT, "user" TEXT, updated_at TEXT)')
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?, datetime('now', '-1 hour'))",
        ORDERS,
    )
    conn.commit()
    yield conn
    conn.close()


def test_a_clean_table_passes_every_check(lite: sqlite3.Connection) -> None:
    report = run_checks(lite, _spec(sql="SELECT id FROM orders WHERE amount < 0"), "sqlite")
    assert report.passed, report.text()
    assert report.text() == "all 7 checks passed on orders"
    assert [r.name for r in report.results] == [
        "row_count>=1",
        "not_null(id)",
        "not_null(amount)",
        "unique(id)",
        "accepted_values(status)",
        "max_age(updated_at)",
        "sql",
    ]
    age = next(r for r in report.results if r.kind == "max_age")
    assert age.count is not None and 3500 < age.count < 3700
    assert "1h old (within the limit of 1d)" in age.found


def test_failures_say_what_was_found_with_up_to_five_values(lite: sqlite3.Connection) -> None:
    rows = [(1, None, "lost", "x"), (2, None, "lost", "y"), (9, 1.0, "it's", None)]
    rows += [(100 + i, 1.0, f"weird{i}", None) for i in range(6)]
    lite.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, '2020-01-01 00:00:00')", rows)
    lite.execute("UPDATE orders SET updated_at = '2020-01-02 00:00:00' WHERE id = 1")
    lite.commit()
    spec = _spec(
        row_count_max=5,
        not_null=["id", "amount", "user"],
        unique=["id", ("id", "status")],
        sql="SELECT id, status FROM orders WHERE status = 'lost';",
    )
    report = run_checks(lite, spec, "sqlite")
    assert not report.passed
    found = {r.name: r for r in report.results}
    assert found["row_count>=1,<=5"].found == "12 rows (expected at least 1 and at most 5)"
    assert found["not_null(id)"].passed
    assert found["not_null(amount)"].found == "2 NULL values"
    assert found["not_null(user)"].count == 7
    assert found["unique(id)"].found == "2 duplicated values: 1 (2 rows), 2 (2 rows)"
    assert found["unique(id, status)"].passed
    accepted = found["accepted_values(status)"]
    assert accepted.count == 9
    assert accepted.examples[0] == "'lost' (2 rows)"
    assert len(accepted.examples) == 5
    assert '"it\'s" (1 row)' in accepted.examples
    assert found["max_age(updated_at)"].passed  # the newest value is an hour old
    assert found["sql"].found == "2 rows returned (must return none), e.g. (1, 'lost'), (2, 'lost')"
    text = report.text()
    assert text.startswith("6 of 9 checks failed on orders: row_count>=1,<=5: 12 rows")
    assert "not_null(id)" not in text
    json.dumps(report.as_metadata())  # metadata is JSON
    assert report.as_metadata()["failed"] == [r.name for r in report.failures]


def test_a_stale_or_empty_timestamp_column_fails_max_age(lite: sqlite3.Connection) -> None:
    lite.execute("UPDATE orders SET updated_at = datetime('now', '-3 days')")
    [stale] = run_checks(lite, CheckSpec.build(table="orders", max_age=("updated_at", "1d")), "sqlite").results
    assert not stale.passed
    assert "3d old (more than the limit of 1d)" in stale.found
    lite.execute("DELETE FROM orders")
    [empty] = run_checks(lite, CheckSpec.build(table="orders", max_age=("updated_at", "1d")), "sqlite").results
    assert (empty.passed, empty.found) == (False, "no updated_at value (the table is empty or all NULL)")


def test_a_custom_query_counts_its_rows_up_to_a_cap(lite: sqlite3.Connection) -> None:
    lite.execute("CREATE TABLE big (n INTEGER)")
    lite.executemany("INSERT INTO big VALUES (?)", [(i,) for i in range(10_050)])
    [result] = run_checks(lite, CheckSpec.build(table="big", sql="SELECT n FROM big"), "sqlite").results
    assert result.found.startswith("at least 10000 rows returned (must return none), e.g. 0, 1, 2, 3, 4")


def test_database_errors_come_from_the_driver_and_the_connection_stays_usable(lite: sqlite3.Connection) -> None:
    with pytest.raises(sqlite3.OperationalError, match="no such column: nope"):
        run_checks(lite, CheckSpec.build(table="orders", not_null=["nope"]), "sqlite")
    assert run_checks(lite, CheckSpec.build(table="orders", row_count_min=3), "sqlite").passed


# -- the same checks on PostgreSQL (psycopg) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg(postgres_server: Any) -> Iterator[Any]:
    """A psycopg connection to a throwaway database holding ``orders`` and a mixed-case, reserved-word table."""
    import psycopg

    url = postgres_server.create_database().replace("postgresql+psycopg://", "postgresql://", 1)
    conn = psycopg.connect(url)
    conn.execute("CREATE SCHEMA sales")
    conn.execute(
        "CREATE TABLE sales.orders (id int, amount numeric(10, 2), status text, updated_at timestamptz, "
        "created timestamp)"
    )
    conn.execute(
        "INSERT INTO sales.orders SELECT i, i * 1.5, CASE WHEN i = 4 THEN 'lost' ELSE 'open' END, "
        "now() - interval '2 hours', now() - interval '3 days' FROM generate_series(1, 4) i"
    )
    conn.execute('CREATE TABLE "Events" ("user" text, "Kind" text)')
    conn.execute("""INSERT INTO "Events" VALUES ('ada', 'click'), ('ada', 'click'), (NULL, 'view')""")
    conn.commit()
    yield conn
    conn.close()


def test_postgres_runs_the_same_checks(pg: Any) -> None:
    spec = CheckSpec.build(
        table="sales.orders",
        row_count_min=1,
        row_count_max=10,
        not_null=["id", "amount"],
        unique=["id"],
        accepted_values={"status": ["open", "paid"]},
        max_age=("updated_at", "1d"),
        sql="SELECT id FROM sales.orders WHERE amount > 5",
    )
    report = run_checks(pg, spec, "postgres")
    assert [r.name for r in report.failures] == ["accepted_values(status)", "sql"]
    assert report.failures[0].found == "1 row with other values: 'lost' (1 row)"
    assert report.failures[1].found == "1 row returned (must return none), e.g. 4"
    age = next(r for r in report.results if r.kind == "max_age")
    assert age.passed and "2h old" in age.found


def test_postgres_freshness_of_a_timestamp_without_time_zone(pg: Any) -> None:
    [result] = run_checks(pg, CheckSpec.build(table="sales.orders", max_age=("created", "2d")), "postgres").results
    assert not result.passed
    assert "3d old (more than the limit of 2d)" in result.found


def test_a_column_named_like_our_aliases(lite: sqlite3.Connection) -> None:
    lite.execute("CREATE TABLE counts (n INTEGER, hw_rows INTEGER, dupes TEXT)")
    lite.executemany("INSERT INTO counts VALUES (?, ?, ?)", [(1, 1, "a"), (1, 1, "a"), (2, 3, "b")])
    spec = CheckSpec.build(table="counts", unique=["n", "hw_rows", "dupes"], accepted_values={"n": [1]})
    found = [r.found for r in run_checks(lite, spec, "sqlite").results]
    assert found == [
        "1 duplicated value: 1 (2 rows)",
        "1 duplicated value: 1 (2 rows)",
        "1 duplicated value: 'a' (2 rows)",
        "1 row with other values: 2 (1 row)",
    ]


def test_postgres_quoted_and_reserved_names(pg: Any) -> None:
    spec = CheckSpec.build(table='"Events"', not_null=["user"], unique=[("user", '"Kind"')])
    report = run_checks(pg, spec, "postgres")
    assert [r.found for r in report.results] == ["1 NULL value", "1 duplicated value: ('ada', 'click') (2 rows)"]


def test_postgres_errors_propagate_and_leave_no_aborted_transaction(pg: Any) -> None:
    import psycopg

    with pytest.raises(psycopg.errors.UndefinedTable):
        run_checks(pg, CheckSpec.build(table="missing", row_count_min=1), "postgres")
    assert run_checks(pg, CheckSpec.build(table="sales.orders", row_count_min=4), "postgres").passed


# -- the operator base -------------------------------------------------------------------------------------------


class LiteCheck(SqlCheckOperator):
    """A check operator on a SQLite file (the path is the connection id): the smallest real subclass."""

    operator_name = "test.sqlite_check"
    dialect = "sqlite"

    def connect(self, ctx: Context) -> DBAPIConnection:
        return sqlite3.connect(self.conn)


def _ctx() -> Context:
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    return Context(
        run_id="r",
        pipeline_id="p",
        task_id="check_orders",
        try_number=1,
        logical_date=moment,
        data_interval=DataInterval(moment, moment),
        params={},
        upstream={},
        log=logging.getLogger("test.sql_checks"),
    )


def test_the_operator_reports_lineage_and_metadata(lite: sqlite3.Connection, tmp_path: Path) -> None:
    op = LiteCheck("check_orders", conn=str(tmp_path / "warehouse.db"), table="orders", row_count_min=1, unique="id")
    assert op.describe() == f"LiteCheck on {tmp_path / 'warehouse.db'}: orders: row_count>=1, unique(id)"
    ctx = _ctx()
    result = op.execute(ctx)
    assert result["passed"] is True
    assert ctx.reports.reads == [f"sqlite://{tmp_path / 'warehouse.db'}/orders"]
    assert ctx.reports.metadata == {"checks": result}


def test_a_failed_check_fails_the_task_once_with_the_report(
    lite: sqlite3.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lite.execute("INSERT INTO orders VALUES (1, NULL, 'open', 'dup', datetime('now'))")
    lite.commit()
    ctx = _ctx()
    op = LiteCheck("check_orders", conn=str(tmp_path / "warehouse.db"), table="orders", not_null=["amount"])
    with pytest.raises(DataQualityError) as info, caplog.at_level(logging.INFO, "test.sql_checks"):
        op.execute(ctx)
    assert isinstance(info.value, PermanentError)
    assert str(info.value) == "1 of 1 checks failed on orders: not_null(amount): 1 NULL value"
    assert info.value.report.failures[0].count == 1
    assert "check not_null(amount): FAILED: 1 NULL value" in caplog.text
    assert ctx.reports.metadata["checks"]["passed"] is False  # type: ignore[index]

    with Pipeline(f"checks_{secrets.token_hex(3)}") as pipeline:
        LiteCheck(
            "check_orders",
            conn=str(tmp_path / "warehouse.db"),
            table="orders",
            not_null=["amount"],
            unique=["id"],
            retries=3,
            retry_delay=0,
        )
    run = run_pipeline(pipeline)
    task = run.summary.task("check_orders")
    assert (task.state, task.tries) == ("failed", 1)  # never retried
    assert task.error == (
        "2 of 2 checks failed on orders: not_null(amount): 1 NULL value; unique(id): 1 duplicated value: 1 (2 rows)"
    )


def test_the_operator_validates_when_defined() -> None:
    with pytest.raises(DefinitionError, match="task 'check_orders': no check given for table 'orders'"):
        LiteCheck("check_orders", conn="x.db", table="orders")
    with pytest.raises(DefinitionError, match="conn: expected a connection id"):
        LiteCheck("check_orders", conn="", table="orders", row_count_min=1)
