"""The warehouse-refresh example (examples/warehouse_refresh), run end to end on a copy of the project.

Each test copies the example into a temporary directory and runs it the way `headwater run` does:
the project's settings (SQLite state in .headwater/, pool `sources`), its definition file, and the
default executor (headwater-local). Expectations are computed from the shipped source data.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from headwater.config.settings import Project, load_project
from headwater.engine.launch import open_store, run_pipeline
from headwater.engine.listener import RunSummary
from headwater.loader.files import load_file

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "warehouse_refresh"
GENERATED = shutil.ignore_patterns(".headwater", "warehouse", "orders.db", "__pycache__")


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    target = tmp_path / "warehouse_refresh"
    shutil.copytree(EXAMPLE, target, ignore=GENERATED)
    return target


def run(project_dir: Path, **params: object) -> tuple[Project, RunSummary]:
    project = load_project(project_dir, environ={})
    (pipeline,) = load_file(project.pipelines_dir / "warehouse_refresh.py")
    return project, run_pipeline(project, pipeline, params=params)


def states(summary: RunSummary) -> dict[str, str]:
    return {t.task_id: str(t.state) for t in summary.tasks}


def warehouse(project_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(project_dir / "warehouse" / "warehouse.db")) as db:
        return db.execute(sql).fetchall()


def expected_facts(project_dir: Path) -> set[tuple[object, ...]]:
    """(order_id, sku, quantity, unit_price, revenue) from the shipped orders seed and every API page."""
    data = project_dir / "data"
    prices = {
        item["sku"]: item["price"]
        for page in sorted((data / "api").glob("products_page_*.json"))
        for item in json.loads(page.read_text(encoding="utf-8"))["items"]
    }
    with closing(sqlite3.connect(":memory:")) as db:
        db.executescript((data / "orders.sql").read_text(encoding="utf-8"))
        orders = db.execute("SELECT order_id, sku, quantity FROM orders").fetchall()
    return {(o, sku, q, prices[sku], round(prices[sku] * q, 2)) for o, sku, q in orders}


def test_refresh_loads_the_joined_sources_and_is_idempotent(project_dir: Path) -> None:
    _, summary = run(project_dir)

    assert summary.ok, states(summary)
    assert states(summary) == {t: "success" for t in states(summary)} | {"notify_failure": "skipped"}
    facts = set(warehouse(project_dir, "SELECT order_id, sku, quantity, unit_price, revenue FROM fact_orders"))
    assert facts == expected_facts(project_dir)
    assert warehouse(project_dir, "SELECT count(*) FROM dim_products") == [(9,)]  # all three API pages
    events: Counter[tuple[str, str]] = Counter()
    for file in (project_dir / "data" / "object_store" / "clickstream").glob("*.csv"):
        with file.open(newline="", encoding="utf-8") as f:
            events.update((row["sku"], row["event_type"]) for row in csv.DictReader(f))
    activity = warehouse(project_dir, "SELECT sku, views, add_to_carts FROM product_activity")
    assert {(sku, views, carts) for sku, views, carts in activity} == {
        (sku, events[sku, "view"], events[sku, "add_to_cart"]) for sku, _, _ in activity
    }
    assert sum(events.values()) == sum(v + c for _, v, c in activity)

    _, again = run(project_dir)  # a second run replaces the data rather than appending to it
    assert again.ok
    assert set(warehouse(project_dir, "SELECT order_id, sku, quantity, unit_price, revenue FROM fact_orders")) == facts
    assert warehouse(project_dir, "SELECT count(*) FROM fact_orders") == [(len(facts),)]
    assert {r[0] for r in warehouse(project_dir, "SELECT run_id FROM loads")} == {summary.run_id, again.run_id}


def test_flaky_products_api_succeeds_after_retries(project_dir: Path) -> None:
    project, summary = run(project_dir, fail_products_times=2)

    assert summary.ok, states(summary)
    assert summary.task("extract_products").tries == 3
    store = open_store(project)
    try:
        tries = store.tries(summary.run_id, "extract_products")
    finally:
        store.close()
    assert [t.state for t in tries] == ["failed", "failed", "success"]
    assert "ConnectionError" in (tries[0].error or "")
    assert states(summary)["notify_failure"] == "skipped"
    assert len(warehouse(project_dir, "SELECT * FROM dim_products")) == 9


def test_bad_source_data_fails_fast_alerts_and_keeps_the_last_good_warehouse(
    project_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, good = run(project_dir)
    assert good.ok
    before = warehouse(project_dir, "SELECT * FROM fact_orders ORDER BY order_id")
    bad_file = project_dir / "data" / "object_store" / "clickstream" / "2026-01-04.csv"
    bad_file.write_text(
        "event_id,event_time,session_id,customer_id,sku,event_type\ne9001,2026-01-04T09:00:00Z,s1,1,,view\n",
        encoding="utf-8",
    )

    with caplog.at_level(logging.INFO, logger="headwater.alerts"):
        _, summary = run(project_dir)

    assert summary.state == "failed"
    failed = summary.task("validate_clickstream")
    assert (failed.state, failed.tries) == ("failed", 1)  # retries=0: no second try
    assert "empty sku" in (failed.error or "")
    got = states(summary)
    assert got["transform"] == got["load"] == "upstream_failed"
    assert got["notify_failure"] == "success"
    assert got["notify_success"] == "upstream_failed"
    assert warehouse(project_dir, "SELECT * FROM fact_orders ORDER BY order_id") == before
    alerts = [r.getMessage() for r in caplog.records if r.name == "headwater.alerts"]
    assert any("[failure]" in a and summary.run_id in a for a in alerts), alerts
