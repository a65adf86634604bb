"""Backfills run on their own warehouse: ``USE WAREHOUSE <backfill_warehouse>`` when ``ctx.lane == "backfill"``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from snowflake_stand_in import PASSWORD, CapturedContext, Warehouse

from headwater_snowflake import SnowflakeOperator
from headwater_snowflake.base import SessionOptions

PIPELINE = """\
id: wh_refresh
schedule: "@daily"
start_date: "2026-01-01"
tasks:
  - id: refresh
    operator: snowflake.query
    conn: sf
    sql: insert into runs values ('{{ ds }}', '{{ lane }}')
    warehouse: DAILY_WH
    backfill_warehouse: BACKFILL_WH
"""


def test_a_backfill_try_switches_to_the_backfill_warehouse_first(
    warehouse: Warehouse, make_ctx: Callable[..., CapturedContext]
) -> None:
    options = SessionOptions.build("t", conn="sf", warehouse="DAILY_WH", backfill_warehouse="BACKFILL_WH")
    backfill, daily = make_ctx("t", lane="backfill"), make_ctx("t")

    with options.open(backfill.ctx) as session:
        backfill_ran = list(session.executed)
    with options.open(daily.ctx) as session:
        daily_ran = list(session.executed)

    assert backfill_ran == ["USE WAREHOUSE BACKFILL_WH"]
    assert daily_ran == ["USE WAREHOUSE DAILY_WH"]


def test_without_a_backfill_warehouse_a_backfill_stays_on_the_warehouse(
    warehouse: Warehouse, make_ctx: Callable[..., CapturedContext]
) -> None:
    captured = make_ctx("q", lane="backfill")
    SnowflakeOperator("q", conn="sf", sql="select 1").execute(captured.ctx)
    assert not any("USE WAREHOUSE" in line for line in captured.lines)
    assert any("set backfill_warehouse=" in line for line in captured.lines)


def test_quoted_warehouse_names_are_quoted(warehouse: Warehouse, make_ctx: Callable[..., CapturedContext]) -> None:
    options = SessionOptions.build("t", conn="sf", backfill_warehouse="backfill wh {{ params.size }}")
    with options.open(make_ctx("t", lane="backfill", params={"size": "XL"}).ctx) as session:
        assert session.executed == ['USE WAREHOUSE "backfill wh XL"']


def _headwater(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "headwater"), "--project", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_headwater_backfill_runs_on_the_backfill_warehouse(warehouse: Warehouse, tmp_path: Path) -> None:
    warehouse.query("create table runs (day varchar, lane varchar)")
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "headwater.toml").write_text('executor = "inline"\n', encoding="utf-8")
    (root / "pipelines" / "wh_refresh.yaml").write_text(PIPELINE, encoding="utf-8")

    backfill = _headwater(root, "backfill", "wh_refresh", "--start", "2026-01-01", "--end", "2026-01-02")
    daily = _headwater(root, "run", "wh_refresh", "--date", "2026-01-03")

    assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    assert daily.returncode == 0, daily.stdout + daily.stderr
    assert warehouse.query("select day, lane from runs order by day") == [
        ("2026-01-01", "backfill"),
        ("2026-01-02", "backfill"),
        ("2026-01-03", "default"),
    ]
    logs = {path: path.read_text() for path in (root / ".headwater" / "logs").rglob("*.log")}
    assert len(logs) == 3
    switched = sorted(
        ("BACKFILL_WH" if "line 1: USE WAREHOUSE BACKFILL_WH" in text else "DAILY_WH")
        for text in logs.values()
        if "USE WAREHOUSE" in text
    )
    assert switched == ["BACKFILL_WH", "BACKFILL_WH", "DAILY_WH"]
    for text in (*logs.values(), backfill.stdout, backfill.stderr, daily.stdout, daily.stderr):
        assert PASSWORD not in text
