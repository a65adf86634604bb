"""``postgres.query`` against the local PostgreSQL: transactions, rows, parameters, placeholders, errors, lineage."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from headwater import DefinitionError, Pipeline
from headwater.testing import run_pipeline
from headwater_postgres import PostgresError, PostgresOperator


def _pipeline_id() -> str:
    return f"pg_{secrets.token_hex(3)}"


def test_rows_of_the_last_query_go_downstream(warehouse: str, schema: str) -> None:
    with Pipeline(_pipeline_id()) as pipeline:
        PostgresOperator(
            "build",
            conn=warehouse,
            sql=f"""
                create table {schema}.orders (id int primary key, amount numeric(10, 2), day date);
                insert into {schema}.orders values (1, 9.50, '2026-03-01'), (2, 20, '2026-03-01');
                select id, amount, day from {schema}.orders order by id;
            """,
        )
        PostgresOperator("count", conn=warehouse, sql=f"update {schema}.orders set amount = amount + 1")
    run = run_pipeline(pipeline)
    assert run.ok, run.summary.tasks
    assert run.results["build"] == [
        {"id": 1, "amount": 9.5, "day": "2026-03-01"},
        {"id": 2, "amount": 20, "day": "2026-03-01"},
    ]


def test_a_failing_statement_rolls_back_the_whole_script(warehouse: str, schema: str, database: Any) -> None:
    with Pipeline(_pipeline_id()) as pipeline:
        PostgresOperator(
            "load",
            conn=warehouse,
            sql=f"create table {schema}.t (a int);\ninsert into {schema}.t values (1);\n\n"
            f"select nope\n  from {schema}.t;",
            retries=2,
            retry_delay=0,
        )
    run = run_pipeline(pipeline)
    task = run.summary.task("load")
    assert (task.state, task.tries) == ("failed", 1)  # bad SQL is not retried
    assert task.error == ("postgres 'warehouse': column \"nope\" does not exist [42703] (line 4, statement 3 of 3)")
    assert database.execute(f"select to_regclass('{schema}.t')") == [(None,)]  # the create was rolled back


def test_parameters_are_bound_never_interpolated(warehouse: str, schema: str, database: Any) -> None:
    database.execute(f"create table {schema}.names (name text)")
    evil = "x'); drop table names; --"
    with Pipeline(_pipeline_id()) as pipeline:
        PostgresOperator(
            "insert",
            conn=warehouse,
            sql=f"insert into {schema}.names values (%(name)s), (%(day)s); select count(*) as n from {schema}.names",
            parameters={"name": evil, "day": "{{ ds }}"},
        )
        PostgresOperator(
            "like",
            conn=warehouse,
            sql=f"select name from {schema}.names where name like 'x%%' and name <> %s",
            parameters=["nothing"],
        )
    run = run_pipeline(pipeline, logical_date=_date("2026-03-01"))
    assert run.ok, run.summary.tasks
    assert run.results["insert"] == [{"n": 2}]
    assert run.results["like"] == [{"name": evil}]
    assert database.execute(f"select name from {schema}.names order by name") == [("2026-03-01",), (evil,)]


def test_placeholders_from_the_run(warehouse: str, schema: str) -> None:
    with Pipeline(_pipeline_id(), params={"region": "eu"}) as pipeline:
        PostgresOperator(
            "hello",
            conn=warehouse,
            sql="select '{{ ds }}' as ds, '{{ params.region }}' as region, '{{ data_interval_start }}' as start",
        )
    run = run_pipeline(pipeline, logical_date=_date("2026-03-02"))
    assert run.ok, run.summary.tasks
    rows: Any = run.results["hello"]
    [row] = rows
    assert row["ds"] == "2026-03-02" and row["region"] == "eu"
    assert row["start"] == "2026-03-02T00:00:00+00:00"


def test_sql_from_a_file_with_its_line_in_errors(warehouse: str, tmp_path: Path) -> None:
    sql_file = tmp_path / "report.sql"
    sql_file.write_text("-- the daily report\nselect 1 as one;\nselect\n  1 +\n  'a'::int as broken;\n")
    with Pipeline(_pipeline_id()) as pipeline:
        PostgresOperator("report", conn=warehouse, sql_file=str(sql_file))
    task = run_pipeline(pipeline).summary.task("report")
    assert task.state == "failed"
    assert task.error is not None
    assert task.error.startswith("postgres 'warehouse': invalid input syntax for type integer: \"a\" [22P02]")
    assert f"({sql_file} line 5, statement 2 of 2)" in task.error


def test_too_many_rows_fail_with_advice(warehouse: str) -> None:
    with Pipeline(_pipeline_id()) as pipeline:
        PostgresOperator("many", conn=warehouse, sql="select generate_series(1, 11)", max_rows=10)
        PostgresOperator("enough", conn=warehouse, sql="select generate_series(1, 10) as n", max_rows=10)
    run = run_pipeline(pipeline)
    assert "returned more than max_rows=10 rows: write large results to a file with postgres.extract" in (
        run.summary.task("many").error or ""
    )
    assert len(run.results["enough"]) == 10  # type: ignore[arg-type]


def test_a_refused_connection_is_retried(down: str, password: str) -> None:
    with Pipeline(_pipeline_id()) as pipeline:
        PostgresOperator("q", conn=down, sql="select 1", retries=1, retry_delay=0)
    run = run_pipeline(pipeline)
    task = run.summary.task("q")
    assert (task.state, task.tries) == ("failed", 2)
    assert task.error is not None and task.error.startswith("PostgresUnavailable: postgres connection 'down': cannot")
    assert "Connection refused" in task.error
    assert password not in task.error


def test_a_refused_login_is_not_retried(database: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_CONN_NODB", database.uri.rsplit("/", 1)[0] + "/no_such_database")
    with Pipeline(_pipeline_id()) as pipeline:
        PostgresOperator("q", conn="nodb", sql="select 1", retries=2, retry_delay=0)
    task = run_pipeline(pipeline).summary.task("q")
    assert (task.state, task.tries) == ("failed", 1)
    assert task.error == (
        "postgres connection 'nodb': connection to server at \"127.0.0.1\", port 5432 failed: "
        'FATAL: database "no_such_database" does not exist'
    )


def test_a_uri_for_another_database_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_CONN_OTHER", "mysql://u:pw@localhost/db")
    with Pipeline(_pipeline_id()) as pipeline:
        PostgresOperator("q", conn="other", sql="select 1")
    assert run_pipeline(pipeline).summary.task("q").error == (
        "connection 'other' is a mysql:// URI: the postgres operators need postgresql://"
    )


def test_lineage_and_metadata(warehouse: str, schema: str, context: Any) -> None:
    op = PostgresOperator(
        "transform",
        conn=warehouse,
        sql=f"create table {schema}.src (id int); create table {schema}.dst as select * from {schema}.src",
    )
    ctx = context("transform")
    assert op.execute(ctx) == 0
    assert ctx.reports.reads == [f"postgres://warehouse/{schema}.src"]
    assert ctx.reports.writes == [f"postgres://warehouse/{schema}.src", f"postgres://warehouse/{schema}.dst"]
    assert ctx.reports.metadata == {"statements": 2, "rows": 0}


def test_the_client_of_a_postgres_connection_is_a_psycopg_connection(warehouse: str, context: Any) -> None:
    client = context().client(warehouse)
    try:
        assert client.execute("select 41 + 1").fetchone() == (42,)
    finally:
        client.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give either sql= or sql_file="),
        ({"sql": "select 1", "sql_file": "x.sql"}, "give either sql= or sql_file="),
        ({"sql": "-- nothing"}, "sql: no statement"),
        ({"sql": "select '{{ tomorrow }}'"}, "sql: unknown placeholder {{ tomorrow }}"),
        ({"sql": "select 1", "parameters": "x"}, "parameters: expected a mapping"),
        ({"sql": "select 1", "max_rows": -1}, "max_rows: expected a whole number"),
        ({"sql": "select 1", "conn": ""}, "conn: expected a connection id"),
    ],
)
def test_bad_arguments_name_the_task(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        PostgresOperator("q", **{"conn": "warehouse", **kwargs})
    assert str(info.value).startswith("task 'q': ")
    assert message in str(info.value)


def test_errors_are_permanent_exceptions(warehouse: str, context: Any) -> None:
    op = PostgresOperator("q", conn=warehouse, sql="selec 1")
    with pytest.raises(PostgresError) as info:
        op.execute(context("q"))
    assert (info.value.sqlstate, info.value.line) == ("42601", 1)


def _date(day: str) -> Any:
    from datetime import UTC, datetime

    return datetime.fromisoformat(day).replace(tzinfo=UTC)
