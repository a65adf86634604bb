"""``snowflake.load`` against fakesnow: PUT + COPY INTO through table and named stages; the S3 statement's text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from snowflake_stand_in import CapturedContext, Warehouse

from headwater import DefinitionError, Pipeline
from headwater.plugin import PermanentError
from headwater.testing import run_pipeline
from headwater_snowflake import SnowflakeError, SnowflakeStageLoad
from headwater_snowflake.copy import copy_statement

CSV = {"type": "csv", "skip_header": 1, "field_optionally_enclosed_by": '"'}


@pytest.fixture
def orders_csv(tmp_path: Path) -> Path:
    path = tmp_path / "orders 2026-03-01.csv"
    path.write_text('id,amount,status\n1,10.50,open\n2,20.00,"paid"\n3,5.25,paid\n')
    return path


@pytest.fixture
def orders_table(warehouse: Warehouse) -> Warehouse:
    warehouse.query("create table orders (id int, amount number(10, 2), status varchar)")
    return warehouse


def test_a_local_file_is_put_to_the_table_stage_and_copied(
    orders_table: Warehouse, orders_csv: Path, make_ctx: Callable[..., CapturedContext]
) -> None:
    op = SnowflakeStageLoad("load_orders", conn="sf", table="orders", file=str(orders_csv), file_format=CSV)
    captured = make_ctx("load_orders")

    result = op.execute(captured.ctx)

    assert orders_table.query("select id, amount, status from orders order by id") == [
        (1, 10.5, "open"),
        (2, 20, "paid"),
        (3, 5.25, "paid"),
    ]
    table = f"snowflake://sf/{orders_table.database}.PUBLIC.ORDERS"
    assert result["rows_loaded"] == 3
    assert result["files_loaded"] == 1
    assert result["files_failed"] == 0
    assert result["uploaded"] == ["orders 2026-03-01.csv.gz"]
    assert result["table"] == table
    assert captured.ctx.reports.reads == [f"file://{orders_csv}"]
    assert captured.ctx.reports.writes == [table]
    assert captured.ctx.reports.metadata == {"rows_loaded": 3, "files_loaded": 1, "files_failed": 0}
    staged = orders_table.query("list @%orders")
    assert [row[0] for row in staged] == ["headwater/refresh/run-1/load_orders/orders 2026-03-01.csv.gz"]


def test_loading_again_in_the_same_try_loads_nothing_twice(
    orders_table: Warehouse, orders_csv: Path, make_ctx: Callable[..., CapturedContext]
) -> None:
    op = SnowflakeStageLoad("load_orders", conn="sf", table="orders", file=str(orders_csv), file_format=CSV)
    op.execute(make_ctx("load_orders").ctx)
    again = make_ctx("load_orders")

    result = op.execute(again.ctx)  # a retry: same run and task, so the same stage folder

    assert result["rows_loaded"] == 0
    assert result["files_skipped"] == 1
    assert orders_table.query("select count(*) from orders") == [(3,)]
    assert any(line.startswith("no file was loaded into orders") for line in again.lines)


def test_wildcard_files_to_a_named_stage_with_a_named_file_format(
    orders_table: Warehouse, tmp_path: Path, make_ctx: Callable[..., CapturedContext]
) -> None:
    orders_table.query("create stage landing")
    orders_table.query("create file format orders_csv type = csv skip_header = 1")
    (tmp_path / "in").mkdir()
    for day in (1, 2):
        (tmp_path / "in" / f"orders-{day}.csv").write_text(f"id,amount,status\n{day},1.00,open\n")

    result = SnowflakeStageLoad(
        "load",
        conn="sf",
        table="public.orders",
        file=str(tmp_path / "in" / "*.csv"),
        stage="landing",
        file_format="orders_csv",
    ).execute(make_ctx("load").ctx)

    assert result["rows_loaded"] == 2
    assert sorted(result["uploaded"]) == ["orders-1.csv.gz", "orders-2.csv.gz"]  # type: ignore[call-overload]
    assert orders_table.query("select id from orders order by id") == [(1,), (2,)]


def test_files_already_in_a_stage_are_copied(
    orders_table: Warehouse, orders_csv: Path, make_ctx: Callable[..., CapturedContext]
) -> None:
    orders_table.query("create stage landing")
    orders_table.query(f"put 'file://{orders_csv}' @landing/orders/2026-03-01/")
    captured = make_ctx("copy")

    result = SnowflakeStageLoad(
        "copy", conn="sf", table="orders", stage="@landing/orders/{{ ds }}/", file_format=CSV
    ).execute(captured.ctx)

    assert result["rows_loaded"] == 3
    assert captured.ctx.reports.reads == ["snowflake://sf/@landing/orders/2026-03-01/"]


def test_a_missing_file_fails_at_once(orders_table: Warehouse, tmp_path: Path) -> None:
    with Pipeline("load_missing") as pipeline:
        SnowflakeStageLoad("load", conn="sf", table="orders", file=str(tmp_path / "nope.csv"), retries=2)

    run = run_pipeline(pipeline)

    summary = run.summary.task("load")
    assert (summary.state, summary.tries) == ("failed", 1)
    assert summary.error == f"file: {tmp_path / 'nope.csv'} does not exist"


def test_a_row_that_does_not_fit_fails_with_snowflakes_message(
    orders_table: Warehouse, tmp_path: Path, make_ctx: Callable[..., CapturedContext]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,amount,status\n1,not-a-number,open\n")
    op = SnowflakeStageLoad("load", conn="sf", table="orders", file=str(bad), file_format=CSV)

    with pytest.raises(SnowflakeError) as raised:
        op.execute(make_ctx("load").ctx)

    assert isinstance(raised.value, PermanentError)
    assert "not-a-number" in str(raised.value)
    assert orders_table.query("select count(*) from orders") == [(0,)]


def test_the_s3_statement_reads_through_a_storage_integration() -> None:
    # fakesnow cannot run COPY from s3:// (named in the README): the statement's text is what we can check.
    sql = copy_statement(
        "raw.orders",
        "s3://acme-landing/orders/2026-03-01/",
        storage_integration="s3_landing",
        file_format={"type": "parquet"},
        pattern=r".*\.parquet",
        options={"match_by_column_name": "case_insensitive", "on_error": "abort_statement"},
    )
    assert sql == (
        "COPY INTO raw.orders FROM 's3://acme-landing/orders/2026-03-01/' STORAGE_INTEGRATION = s3_landing "
        "FILE_FORMAT = (TYPE = PARQUET) PATTERN = '.*\\\\.parquet' "
        "MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT"
    )


def test_the_s3_load_plans_one_copy_per_run_without_credentials(make_ctx: Callable[..., CapturedContext]) -> None:
    op = SnowflakeStageLoad(
        "load_s3",
        conn="sf",
        table="raw.orders",
        url="s3://acme-landing/orders/{{ ds }}/",
        storage_integration="S3_LANDING",
        file_format={"type": "csv", "skip_header": 1},
        copy_options={"purge": True},
    )

    plan = op.plan(make_ctx("load_s3").ctx)

    assert plan.put is None
    assert plan.reads == "s3://acme-landing/orders/2026-03-01/"
    assert plan.copy == (
        "COPY INTO raw.orders FROM 's3://acme-landing/orders/2026-03-01/' STORAGE_INTEGRATION = S3_LANDING "
        "FILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1) PURGE = TRUE"
    )
    assert op.describe() == "snowflake sf: load s3://acme-landing/orders/{{ ds }}/ into raw.orders"


def test_a_local_load_plans_a_put_into_a_folder_of_the_run(
    orders_csv: Path, make_ctx: Callable[..., CapturedContext]
) -> None:
    op = SnowflakeStageLoad("load", conn="sf", table="raw.orders", file=str(orders_csv), columns=["id", "amount"])

    plan = op.plan(make_ctx("load").ctx)

    folder = "@raw.%orders/headwater/refresh/run-1/load/"
    assert plan.put == f"PUT 'file://{orders_csv}' {folder} AUTO_COMPRESS = TRUE OVERWRITE = TRUE"
    assert plan.copy == f"COPY INTO raw.orders (id, amount) FROM {folder}"


def test_a_relative_file_starts_at_the_project_directory(
    orders_csv: Path, make_ctx: Callable[..., CapturedContext], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    op = SnowflakeStageLoad("load", conn="sf", table="raw.orders", file="orders {{ ds }}.csv")

    plan = op.plan(make_ctx("load", project_dir=tmp_path).ctx)

    assert plan.put is not None and plan.put.startswith(f"PUT 'file://{orders_csv}' ")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give file= (local files to PUT), stage= (files in a stage) or url= (s3://...)"),
        ({"file": "a.csv", "url": "s3://b/k"}, "give file= or url=, not both"),
        ({"url": "s3://b/k/"}, "storage_integration: required with url="),
        ({"url": "https://b/k/", "storage_integration": "i"}, "url: expected s3://"),
        ({"file": "a.csv", "storage_integration": "i"}, "storage_integration: only for loading from a url="),
        ({"stage": "@stage name/with space"}, "stage: expected @name"),
        ({"file": "a.csv", "file_format": {"type;drop": "csv"}}, "file_format: 'type;drop' is not an option name"),
        ({"file": "a.csv", "copy_options": {"purge": object()}}, "copy_options: purge: expected text"),
        ({"file": "{{ nope }}"}, "file: unknown placeholder {{ nope }}"),
        ({"file": "a.csv", "columns": "id"}, "columns: expected a list of column names"),
    ],
)
def test_bad_arguments_are_definition_errors_naming_the_task(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        SnowflakeStageLoad("load", conn="sf", table="orders", **kwargs)  # type: ignore[arg-type]
    assert str(raised.value).startswith("task 'load': ")
    assert message in str(raised.value)
    assert raised.value.tasks == ("load",)
