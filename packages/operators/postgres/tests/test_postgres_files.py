"""``postgres.extract`` (CSV, Parquet) and ``postgres.copy`` (COPY a CSV in) against the local PostgreSQL."""

from __future__ import annotations

import csv
import secrets
from pathlib import Path
from typing import Any

import pytest

from headwater import DefinitionError, Pipeline
from headwater.testing import run_pipeline
from headwater_postgres import PostgresCopyLoad, PostgresExtract


@pytest.fixture
def orders(database: Any, schema: str) -> str:
    database.execute(
        f"create table {schema}.orders (id int, amount numeric(10, 2), status text, at timestamptz, note text, "
        "tags text[], doc jsonb)"
    )
    database.execute(
        f"insert into {schema}.orders select i, i * 1.25, case when i % 2 = 0 then 'paid' else 'open' end, "
        "timestamptz '2026-03-01 00:00:00+00' + i * interval '1 hour', case when i = 3 then null else 'n,' || i end, "
        "array['a', 'b'], jsonb_build_object('i', i) from generate_series(1, 25) i"
    )
    return f"{schema}.orders"


def test_extract_to_csv_with_bound_parameters(warehouse: str, orders: str, tmp_path: Path, context: Any) -> None:
    op = PostgresExtract(
        "extract",
        conn=warehouse,
        sql=f"select id, amount, note from {orders} where status = %(status)s and id <= %(max_id)s order by id",
        parameters={"status": "open", "max_id": 5},
        path=str(tmp_path / "out" / "orders_{{ ds_nodash }}.csv"),
    )
    ctx = context("extract")
    result = op.execute(ctx)
    target = tmp_path / "out" / "orders_20260301.csv"
    assert result == {"path": str(target), "rows": 3, "format": "csv"}
    with target.open(newline="") as file:
        assert list(csv.reader(file)) == [
            ["id", "amount", "note"],
            ["1", "1.25", "n,1"],
            ["3", "3.75", ""],
            ["5", "6.25", "n,5"],
        ]
    assert ctx.reports.reads == [f"postgres://warehouse/{orders}"]
    assert ctx.reports.writes == [target.as_uri()]
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left


def test_extract_to_parquet_keeps_the_column_types(warehouse: str, orders: str, tmp_path: Path, context: Any) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa  # type: ignore[import-untyped]

    op = PostgresExtract(
        "extract", conn=warehouse, sql=f"select * from {orders} order by id", path=str(tmp_path / "o.parquet")
    )
    assert op.execute(context("extract"))["rows"] == 25
    table = pq.read_table(tmp_path / "o.parquet")
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("amount").type == pa.decimal128(10, 2)
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    first = table.slice(0, 1).to_pylist()[0]
    assert first["at"].isoformat() == "2026-03-01T01:00:00+00:00"
    assert (first["note"], first["tags"], first["doc"]) == ("n,1", '["a", "b"]', '{"i": 1}')
    empty = PostgresExtract(
        "none", conn=warehouse, sql=f"select id from {orders} where false", path=str(tmp_path / "none.parquet")
    )
    assert empty.execute(context("none"))["rows"] == 0
    assert pq.read_table(tmp_path / "none.parquet").num_rows == 0


def test_a_failed_extract_leaves_no_file(warehouse: str, tmp_path: Path) -> None:
    with Pipeline(f"pg_{secrets.token_hex(3)}") as pipeline:
        PostgresExtract("extract", conn=warehouse, sql="select 1,\n nope", path=str(tmp_path / "x.csv"))
    task = run_pipeline(pipeline).summary.task("extract")
    assert task.error == "postgres 'warehouse': column \"nope\" does not exist [42703] (line 2)"
    assert list(tmp_path.iterdir()) == []


def test_copy_loads_a_csv_in_one_transaction(warehouse: str, schema: str, database: Any, tmp_path: Path) -> None:
    database.execute(f'create table {schema}.target (id int, "Name" text, note text)')
    database.execute(f"insert into {schema}.target values (0, 'old', null)")
    source = tmp_path / "2026-03-01.csv"
    source.write_text('id;name\n1;"a;b"\n2;\n')
    with Pipeline(f"pg_{secrets.token_hex(3)}") as pipeline:
        PostgresCopyLoad(
            "load",
            conn=warehouse,
            table=f"{schema}.target",
            path=str(tmp_path / "{{ ds }}.csv"),
            columns=["id", '"Name"'],
            delimiter=";",
            truncate=True,
        )
    run = run_pipeline(pipeline, logical_date=_date("2026-03-01"))
    assert run.ok, run.summary.tasks
    assert run.results["load"] == 2
    assert database.execute(f'select id, "Name" from {schema}.target order by id') == [(1, "a;b"), (2, None)]


def test_a_bad_row_fails_the_copy_and_keeps_the_old_rows(
    warehouse: str, schema: str, database: Any, tmp_path: Path
) -> None:
    database.execute(f"create table {schema}.target (id int)")
    database.execute(f"insert into {schema}.target values (7)")
    (tmp_path / "bad.csv").write_text("id\n1\nnot a number\n")
    with Pipeline(f"pg_{secrets.token_hex(3)}") as pipeline:
        PostgresCopyLoad(
            "load", conn=warehouse, table=f"{schema}.target", path=str(tmp_path / "bad.csv"), truncate=True, retries=2
        )
        PostgresCopyLoad("missing", conn=warehouse, table=f"{schema}.target", path=str(tmp_path / "nope.csv"))
    run = run_pipeline(pipeline)
    load = run.summary.task("load")
    assert (load.state, load.tries) == ("failed", 1)
    assert load.error is not None
    assert load.error.startswith(
        "postgres 'warehouse': invalid input syntax for type integer: \"not a number\" [22P02]"
    )
    assert "detail" not in load.error or "COPY" in load.error
    assert database.execute(f"select id from {schema}.target") == [(7,)]
    assert run.summary.task("missing").error == f"postgres.copy: no file at {tmp_path / 'nope.csv'}"


def test_copy_reports_lineage(warehouse: str, schema: str, database: Any, tmp_path: Path, context: Any) -> None:
    database.execute(f"create table {schema}.t (id int)")
    (tmp_path / "t.csv").write_text("id\n1\n")
    ctx = context("load")
    assert PostgresCopyLoad("load", conn=warehouse, table=f"{schema}.t", path=str(tmp_path / "t.csv")).execute(ctx) == 1
    assert ctx.reports.reads == [(tmp_path / "t.csv").as_uri()]
    assert ctx.reports.writes == [f"postgres://warehouse/{schema}.t"]


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (PostgresExtract, {"sql": "select 1", "path": "out.txt"}, "format: expected 'csv' or 'parquet'"),
        (PostgresExtract, {"sql": "select 1; select 2", "path": "o.csv"}, "sql: expected exactly one query"),
        (PostgresExtract, {"sql": "select 1", "path": "o.csv", "delimiter": ";;"}, "delimiter: expected one character"),
        (PostgresCopyLoad, {"table": "a..b", "path": "x.csv"}, "table: empty name"),
        (PostgresCopyLoad, {"table": "t", "path": "{{ nope }}.csv"}, "path: unknown placeholder"),
    ],
)
def test_bad_arguments_name_the_task(cls: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        cls("t1", conn="warehouse", **kwargs)
    assert str(info.value).startswith("task 't1': ")
    assert message in str(info.value)


def _date(day: str) -> Any:
    from datetime import UTC, datetime

    return datetime.fromisoformat(day).replace(tzinfo=UTC)
