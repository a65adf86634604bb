"""The asset example (examples/warehouse_assets), run end to end through the real CLI on a copy of the project.

Each command runs in its own ``headwater`` process on the project's settings: SQLite state in
.headwater/, the default executor (headwater-local). Expectations are computed from the example's own
deterministic order generator.
"""

from __future__ import annotations

import importlib.util
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "warehouse_assets"
GENERATED = shutil.ignore_patterns(".headwater", "warehouse", "__pycache__")


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    target = tmp_path / "warehouse_assets"
    shutil.copytree(EXAMPLE, target, ignore=GENERATED)
    return target


def headwater(project_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``headwater ARGS`` in the project directory, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "headwater.cli.main", *args],
        cwd=project_dir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def example_module(project_dir: Path) -> ModuleType:
    """The example's definition file, for its order generator and prices."""
    path = project_dir / "pipelines" / "warehouse_assets.py"
    spec = importlib.util.spec_from_file_location("warehouse_assets_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def warehouse(project_dir: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(project_dir / "warehouse" / "warehouse.db")) as db:
        return db.execute(sql, params).fetchall()


def expected_day(module: ModuleType, day: str) -> tuple[int, float]:
    """(placed orders, revenue) of one day, from the generator."""
    placed = [o for o in module.generate_orders(day) if o["status"] == "placed"]
    revenue = sum(round(module.PRICES[o["sku"]] * o["quantity"], 2) for o in placed)
    return len(placed), round(revenue, 2)


def test_materialize_then_backfill_fills_the_warehouse_and_the_catalogue(project_dir: Path) -> None:
    module = example_module(project_dir)

    first = headwater(project_dir, "materialize", "fct_orders", "--partition", "2026-01-02")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "materialize: 2 run(s) in 2 wave(s), 1 at a time" in first.stdout
    assert "  wave 2  2026-01-02     fct_orders  (+ missing upstream raw_orders, stg_orders)" in first.stdout
    assert warehouse(project_dir, "SELECT count(*) FROM dim_customers") == [(10,)]

    backfill = headwater(
        project_dir, "backfill", "fct_orders", "--start", "2026-01-01", "--end", "2026-01-05", "--parallelism", "3"
    )
    assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    assert "  materialized 5" in backfill.stdout
    assert "2026-01-02  fct_orders\n" in backfill.stdout  # its upstream partitions exist: only fct_orders runs

    days = [f"2026-01-0{d}" for d in range(1, 6)]
    for day in days:
        orders, revenue = expected_day(module, day)
        assert warehouse(project_dir, "SELECT count(*) FROM stg_orders WHERE order_date = ?", day) == [(orders,)]
        got = warehouse(
            project_dir, "SELECT sum(orders), round(sum(revenue), 2) FROM fct_orders WHERE order_date = ?", day
        )
        assert got == [(orders, revenue)]

    status = headwater(project_dir, "assets", "fct_orders")
    assert status.returncode == 0, status.stderr
    assert "  2026-01-01 .. 2026-01-05  fresh        5" in status.stdout
    assert "orders=" in status.stdout and "revenue=" in status.stdout  # the metadata history

    lineage = headwater(project_dir, "assets", "--lineage", "fct_orders")
    assert "writes sqlite:warehouse.fct_orders" in lineage.stdout
    assert "    raw_orders  (daily partitions from 2026-01-01 (UTC))" in lineage.stdout


def test_a_monthly_rollup_materializes_its_month_and_rerunning_gives_the_same_rows(project_dir: Path) -> None:
    module = example_module(project_dir)
    days = [f"2026-02-{d:02d}" for d in range(1, 29)]

    result = headwater(project_dir, "materialize", "orders_monthly", "--partition", "2026-02", "--parallelism", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "materialize: 30 run(s) in 3 wave(s), 4 at a time" in result.stdout

    expected = [expected_day(module, day) for day in days]
    total = (sum(o for o, _ in expected), round(sum(r for _, r in expected), 2))
    query = "SELECT sum(orders), round(sum(revenue), 2), max(days) FROM orders_monthly WHERE month = ?"
    assert warehouse(project_dir, query, "2026-02") == [(*total, 28)]

    again = headwater(project_dir, "materialize", "orders_monthly", "--partition", "2026-02")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "materialize: 1 run(s) in 1 wave(s)" in again.stdout  # every upstream partition exists now
    assert warehouse(project_dir, query, "2026-02") == [(*total, 28)]
