"""``snowflake.query`` through the real connector against fakesnow: rows, counts, scripts, binds, errors, lineage."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from snowflake_stand_in import CapturedContext, FakesnowServer, Warehouse, free_port

from headwater import ConfigError, Pipeline
from headwater.testing import run_pipeline
from headwater_snowflake import SnowflakeError, SnowflakeOperator, SnowflakeUnavailable

ORDERS = """
create table orders (id int, amount number(10, 2), status varchar);
insert into orders values (1, 10.50, 'open'), (2, 20.00, 'paid'), (3, 5.25, 'paid');
"""


def test_a_query_returns_its_rows_as_dicts(warehouse: Warehouse, make_ctx: Callable[..., CapturedContext]) -> None:
    warehouse.query("create table orders (id int, amount number(10, 2), status varchar)")
    warehouse.query("insert into orders values (1, 10.50, 'open'), (2, 20.00, 'paid')")
    op = SnowflakeOperator(
        "totals", conn="sf", sql="select status, sum(amount) as total from orders group by 1 order by 1"
    )
    captured = make_ctx("totals")

    rows = op.execute(captured.ctx)

    assert rows == [{"STATUS": "open", "TOTAL": 10.5}, {"STATUS": "paid", "TOTAL": 20}]
    assert captured.ctx.reports.reads == [f"snowflake://sf/{warehouse.database}.PUBLIC.ORDERS"]
    assert captured.ctx.reports.metadata == {"statements": 1, "rows": 2}


def test_a_script_runs_statement_by_statement_and_returns_the_last_count(
    warehouse: Warehouse, make_ctx: Callable[..., CapturedContext]
) -> None:
    script = ORDERS + "insert into orders select id + 10, amount, 'copy;' from orders where status = 'paid';\n"
    captured = make_ctx("build")

    count = SnowflakeOperator("build", conn="sf", sql=script).execute(captured.ctx)

    assert count == 2
    assert warehouse.query("select count(*) from orders where status = 'copy;'") == [(2,)]
    ran = [line for line in captured.lines if line.startswith("statement ") and "(line" in line]
    assert [line.split(":")[0] for line in ran] == [
        "statement 1/3 (line 2)",
        "statement 2/3 (line 3)",
        "statement 3/3 (line 4)",
    ]
    assert captured.ctx.reports.writes == [f"snowflake://sf/{warehouse.database}.PUBLIC.ORDERS"]


def test_parameters_are_bound_by_snowflake_not_spliced(
    warehouse: Warehouse, make_ctx: Callable[..., CapturedContext]
) -> None:
    warehouse.query("create table notes (day varchar, body varchar)")
    hostile = "x'); drop table notes; --"
    op = SnowflakeOperator(
        "note",
        conn="sf",
        sql="insert into notes values (?, ?); select day, body from notes where day = ? and body = ?",
        parameters=["{{ ds }}", hostile],
    )

    rows = op.execute(make_ctx("note").ctx)

    assert rows == [{"DAY": "2026-03-01", "BODY": hostile}]


def test_sql_from_a_file_with_placeholders_relative_to_the_project(
    warehouse: Warehouse, make_ctx: Callable[..., CapturedContext], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # neither the working directory nor the pipeline file's folder
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "daily.sql").write_text(
        "create table daily as\nselect '{{ ds }}' as day, '{{ params.region }}' as region;\nselect * from daily;\n"
    )
    with Pipeline("files") as pipeline:
        op = SnowflakeOperator("daily", conn="sf", sql_file="sql/daily.sql")
    pipeline.file = str(tmp_path / "pipelines" / "files.py")

    rows = op.execute(make_ctx("daily", params={"region": "eu"}, project_dir=tmp_path).ctx)

    assert rows == [{"DAY": "2026-03-01", "REGION": "eu"}]


def test_the_query_tag_names_the_pipeline_run_and_task(
    warehouse: Warehouse, make_ctx: Callable[..., CapturedContext]
) -> None:
    captured = make_ctx("tagged")
    SnowflakeOperator("tagged", conn="sf", sql="select 1").execute(captured.ctx)
    custom = make_ctx("custom")
    SnowflakeOperator("custom", conn="sf", sql="select 1", query_tag="refresh {{ ds }}").execute(custom.ctx)

    tag_line = next(line for line in captured.lines if line.startswith("query tag: "))
    assert json.loads(tag_line.removeprefix("query tag: ")) == {
        "app": "headwater",
        "pipeline": "refresh",
        "run_id": "run-1",
        "task": "tagged",
        "try": 1,
        "lane": "default",
    }
    assert "query tag: refresh 2026-03-01" in custom.lines


def test_bad_sql_fails_at_once_with_snowflakes_message_and_the_line(warehouse: Warehouse, tmp_path: Path) -> None:
    with Pipeline("bad_sql") as pipeline:
        SnowflakeOperator(
            "broken", conn="sf", sql="create table t (id int);\n\nselect id\n  from t\n  where frob(", retries=3
        )

    run = run_pipeline(pipeline, workdir=tmp_path)

    summary = run.summary.task("broken")
    assert summary.state == "failed"
    assert summary.tries == 1, "bad SQL is permanent: never retried"
    assert summary.error is not None
    assert summary.error.startswith("snowflake 'sf': 001003 (42000): ")
    assert "(line 5, statement 2 of 2)" in summary.error


def test_a_missing_table_names_the_table(warehouse: Warehouse, make_ctx: Callable[..., CapturedContext]) -> None:
    op = SnowflakeOperator("missing", conn="sf", sql="select * from nowhere")
    with pytest.raises(SnowflakeError) as raised:
        op.execute(make_ctx("missing").ctx)
    assert "NOWHERE" in str(raised.value)
    assert raised.value.line == 1


def test_an_unreachable_server_is_retried(monkeypatch: pytest.MonkeyPatch, fakesnow_server: FakesnowServer) -> None:
    closed = free_port()
    uri = fakesnow_server.uri("DB", port=str(closed), login_timeout="2", network_timeout="2")
    monkeypatch.setenv("HEADWATER_CONN_DOWN", uri)
    with Pipeline("down") as pipeline:
        SnowflakeOperator("ping", conn="down", sql="select 1", retries=1, retry_delay=0)

    run = run_pipeline(pipeline)

    summary = run.summary.task("ping")
    assert summary.state == "failed"
    assert summary.tries == 2, "a refused connection is transient: retried"
    assert summary.error is not None
    assert summary.error.startswith(
        f"SnowflakeUnavailable: snowflake connection 'down': cannot connect to http://127.0.0.1:{closed}: 250001"
    )


def test_unreachable_is_a_connection_error(monkeypatch: pytest.MonkeyPatch, make_ctx: Callable[..., Any]) -> None:
    monkeypatch.setenv(
        "HEADWATER_CONN_DOWN",
        f"snowflake://u:pw@acct/DB?host=127.0.0.1&port={free_port()}&protocol=http&login_timeout=2",
    )
    with pytest.raises(SnowflakeUnavailable) as raised:
        SnowflakeOperator("ping", conn="down", sql="select 1").execute(make_ctx("ping").ctx)
    assert isinstance(raised.value, ConnectionError)


def test_an_undefined_connection_says_what_to_set(make_ctx: Callable[..., CapturedContext]) -> None:
    with pytest.raises(ConfigError, match="HEADWATER_CONN_NOPE"):
        SnowflakeOperator("q", conn="nope", sql="select 1").execute(make_ctx("q").ctx)


def test_more_rows_than_max_rows_fails(warehouse: Warehouse, make_ctx: Callable[..., CapturedContext]) -> None:
    op = SnowflakeOperator("big", conn="sf", sql="select * from range(5)", max_rows=3)
    with pytest.raises(Exception, match="more than max_rows=3"):
        op.execute(make_ctx("big").ctx)


def test_without_autocommit_a_failed_script_leaves_nothing(
    warehouse: Warehouse, make_ctx: Callable[..., CapturedContext]
) -> None:
    warehouse.query("create table events (id int)")
    op = SnowflakeOperator(
        "tx",
        conn="sf",
        sql="insert into events values (1);\ninsert into events values ('not a number')",
        autocommit=False,
    )
    with pytest.raises(SnowflakeError, match=r"line 2, statement 2 of 2"):
        op.execute(make_ctx("tx").ctx)
    assert warehouse.query("select count(*) from events") == [(0,)]


def test_ctx_client_is_a_connector_connection(warehouse: Warehouse, make_ctx: Callable[..., CapturedContext]) -> None:
    client: Any = make_ctx("mine").ctx.client("sf")
    try:
        cursor = client.cursor()
        cursor.execute("select current_database()")
        assert cursor.fetchone() == (warehouse.database,)
    finally:
        client.close()
