"""The production warehouse refresh (examples/warehouse_refresh/production), end to end through the real CLI.

`headwater run warehouse_refresh` runs in a subprocess on a copy of the project, with the local executor,
against local stand-ins started here (warehouse_production_standins.py): the local PostgreSQL (a throwaway
database), a paginated products API, moto's S3 server, fakesnow and a Slack stub. Connections reach it only
through HEADWATER_CONN_<ID> variables. Two days are run: a full refresh, then a day whose products API only
answers 500 (the degraded path). Expected values are computed from the example's shipped source data.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from warehouse_production_standins import (
    SECRETS,
    ClickstreamBucket,
    Fakesnow,
    ProductsApi,
    ShopDatabase,
    SlackStub,
    StandInUnavailableError,
)

from headwater.config.settings import load_project
from headwater.engine.launch import open_store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "warehouse_refresh"
PRODUCTION = EXAMPLE / "production"
DATA = EXAMPLE / "data"
GENERATED = shutil.ignore_patterns(".headwater", "staging", "target", "logs", "dbt_packages", "__pycache__")
REQUIRE = os.environ.get("HEADWATER_REQUIRE_SERVICES") == "1"
PG_ADMIN = os.environ.get("HEADWATER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PLUGINS = ("headwater_postgres", "headwater_http", "headwater_s3", "headwater_snowflake", "headwater_dbt")
PLUGINS += ("headwater_slack", "headwater_local", "dbt.adapters.snowflake", "pytest_httpserver", "moto", "boto3")

#: The new day's data: one more order (an existing product) and one more clickstream file.
NEW_ORDER = (1025, 3, "P002", 2, "2026-01-04T10:15:00Z")
NEW_EVENTS = (
    "event_id,event_time,session_id,customer_id,sku,event_type\n"
    "e9001,2026-01-04T09:00:00Z,s900,3,P002,view\n"
    "e9002,2026-01-04T09:02:00Z,s900,3,P002,add_to_cart\n"
    "e9003,2026-01-04T11:30:00Z,s901,5,P009,view\n"
)


def unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


@dataclass
class Stack:
    """The project copy, the stand-ins, and the environment `headwater run` gets."""

    project: Path
    shop: ShopDatabase
    api: ProductsApi
    bucket: ClickstreamBucket
    snowflake: Fakesnow
    slack: SlackStub

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HEADWATER_", "SLACK_", "AWS_"))}
        env.update(
            HEADWATER_CONN_SHOP_DB=self.shop.uri(),
            HEADWATER_CONN_PRODUCTS_API=self.api.uri(),
            HEADWATER_CONN_CLICKSTREAM=self.bucket.uri(),
            HEADWATER_CONN_SNOWFLAKE=self.snowflake.uri(),
            HEADWATER_CONN_SNOWFLAKE_DBT=self.snowflake.dbt_uri(),
            HEADWATER_CONN_SLACK=self.slack.uri(),
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        )
        return env

    @property
    def elsewhere(self) -> Path:
        """The working directory of `headwater run`: not the project (relative paths start at the project)."""
        path = self.project.parent / "elsewhere"
        path.mkdir(exist_ok=True)
        return path

    def run(self, date: str) -> Run:
        command = [sys.executable, "-m", "headwater.cli.main", "--project", str(self.project), "run"]
        done = subprocess.run(
            [*command, "warehouse_refresh", "--date", date],
            cwd=self.elsewhere,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        project = load_project(self.project, environ={})
        store = open_store(project)
        try:
            (record,) = store.list_runs("warehouse_refresh", limit=1)
            instances = store.task_instances(record.run_id)
            errors = {t.task_id: t.error for t in store.tries(record.run_id) if t.error}
        finally:
            store.close()
        states = {ti.task_id: str(ti.state) for ti in instances}
        tries = {ti.task_id: ti.try_number for ti in instances}
        return Run(done.returncode, done.stdout, done.stderr, record.run_id, states, tries, errors)

    def warehouse(self, sql: str) -> list[tuple[Any, ...]]:
        return self.snowflake.query(sql)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    run_id: str
    states: dict[str, str]
    tries: dict[str, int]
    errors: dict[str, str]  # the last try's error, by task

    def explain(self) -> str:
        output = f"{self.stdout[-3000:]}\n{self.stderr[-3000:]}"
        return f"exit {self.code}\nstates {self.states}\nerrors {self.errors}\n{output}"


@dataclass
class Snapshot:
    """What the first (full) run left, read right after it."""

    run: Run
    facts: set[tuple[Any, ...]]
    dim_products: int
    activity: dict[str, tuple[int, int]]
    daily_revenue: list[tuple[Any, ...]]
    performance: int
    loads: list[tuple[Any, ...]]
    slack: list[str]
    api_requests: int
    dbt_results: dict[str, str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    import importlib.util

    missing = [name for name in PLUGINS if importlib.util.find_spec(name) is None]
    if missing:
        unavailable(f"not installed: {', '.join(missing)} (install every plugin with its [test] extra)")
    workdir = tmp_path_factory.mktemp("warehouse_production")
    project = workdir / "production"
    shutil.copytree(PRODUCTION, project, ignore=GENERATED)
    started: list[Any] = []
    try:
        shop = ShopDatabase.start(PG_ADMIN, DATA / "orders.sql")
        started.append(shop)
        api = ProductsApi.start(sorted((DATA / "api").glob("products_page_*.json")))
        started.append(api)
        bucket = ClickstreamBucket.start(sorted((DATA / "object_store" / "clickstream").glob("*.csv")))
        started.append(bucket)
        snowflake = Fakesnow.start(workdir)
        started.append(snowflake)
        slack = SlackStub.start()
        started.append(slack)
    except StandInUnavailableError as exc:
        for component in reversed(started):
            component.stop()
        unavailable(str(exc))
    try:
        yield Stack(project, shop, api, bucket, snowflake, slack)
    finally:
        for component in reversed(started):
            component.stop()


@pytest.fixture(scope="module")
def first_day(stack: Stack) -> Snapshot:
    run = stack.run("2026-01-03T06:00:00Z")
    assert run.code == 0, run.explain()  # the tests below look at what it left
    results = json.loads((stack.project / "dbt" / "target" / "run_results.json").read_text(encoding="utf-8"))
    return Snapshot(
        run=run,
        facts=set(stack.warehouse("SELECT order_id, sku, quantity, unit_price, revenue FROM warehouse.fact_orders")),
        dim_products=stack.warehouse("SELECT COUNT(*) FROM warehouse.dim_products")[0][0],
        activity={
            sku: (views, carts)
            for sku, views, carts in stack.warehouse("SELECT sku, views, add_to_carts FROM warehouse.product_activity")
        },
        daily_revenue=stack.warehouse("SELECT order_date, country, orders, revenue FROM marts.daily_revenue"),
        performance=stack.warehouse("SELECT COUNT(*) FROM marts.product_performance")[0][0],
        loads=stack.warehouse("SELECT run_id, orders, products, events, products_refreshed FROM warehouse.loads"),
        slack=list(stack.slack.texts),
        api_requests=len(stack.api.requests),
        dbt_results={r["unique_id"]: r["status"] for r in results["results"]},
    )


# -- expectations from the shipped data -------------------------------------------------------------------------
def prices() -> dict[str, Decimal]:
    return {
        item["sku"]: Decimal(str(item["price"])).quantize(Decimal("0.01"))
        for page in sorted((DATA / "api").glob("products_page_*.json"))
        for item in json.loads(page.read_text(encoding="utf-8"))["items"]
    }


def seed_orders() -> list[tuple[int, str, int]]:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(":memory:")) as db:
        db.executescript((DATA / "orders.sql").read_text(encoding="utf-8"))
        return db.execute("SELECT order_id, sku, quantity FROM orders").fetchall()


def expected_facts(orders: list[tuple[int, str, int]]) -> set[tuple[Any, ...]]:
    price = prices()
    return {(o, sku, q, price[sku], (price[sku] * q).quantize(Decimal("0.01"))) for o, sku, q in orders}


def clickstream_counts(extra: str = "") -> Counter[tuple[str, str]]:
    events: Counter[tuple[str, str]] = Counter()
    texts = [f.read_text(encoding="utf-8") for f in sorted((DATA / "object_store" / "clickstream").glob("*.csv"))]
    for text in [*texts, extra] if extra else texts:
        events.update((row["sku"], row["event_type"]) for row in csv.DictReader(text.splitlines()))
    return events


def leaked(stack: Stack, run: Run) -> list[str]:
    """Every place a credential shows up: the CLI's output, the task logs, the metadata database."""
    places = {"stdout": run.stdout, "stderr": run.stderr}
    for path in (stack.project / ".headwater").rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    return [f"{secret!r} in {where}" for secret in SECRETS for where, text in places.items() if secret in text]


# -- the tests ----------------------------------------------------------------------------------------------------
def test_a_full_refresh_loads_snowflake_builds_dbt_and_announces_success(stack: Stack, first_day: Snapshot) -> None:
    run = first_day.run
    assert run.code == 0, run.explain()
    assert set(run.states.values()) == {"success", "skipped"}, run.explain()
    assert {t for t, s in run.states.items() if s == "skipped"} == {"warn_products_missing", "notify_failure"}

    # the three sources, joined in Snowflake
    assert first_day.facts == expected_facts(seed_orders())
    assert first_day.dim_products == 9  # every page of the products API
    events = clickstream_counts()
    assert first_day.activity == {sku: (events[sku, "view"], events[sku, "add_to_cart"]) for sku in first_day.activity}
    assert sum(v + c for v, c in first_day.activity.values()) == sum(events.values())
    assert first_day.loads == [(run.run_id, 24, 9, sum(events.values()), True)]
    assert first_day.api_requests == 3  # three pages of four
    # staged under the project directory, though `headwater run` ran elsewhere
    staged = stack.project / "staging" / run.run_id
    assert sorted(p.name for p in staged.iterdir()) == ["clickstream", "orders.csv", "products.jsonl"]
    assert not (stack.elsewhere / "staging" / run.run_id).exists()

    # dbt built its models in the marts schema and ran their tests
    assert sum(orders for _, _, orders, _ in first_day.daily_revenue) == 24
    assert sum(revenue for *_, revenue in first_day.daily_revenue) == sum(f[4] for f in first_day.facts)
    assert first_day.performance == len(first_day.activity)
    statuses = first_day.dbt_results
    assert statuses["model.shop_marts.daily_revenue"] == statuses["model.shop_marts.product_performance"] == "success"
    assert {s for uid, s in statuses.items() if uid.startswith("test.")} == {"pass"}

    # Slack: the success message, nothing else
    assert len(first_day.slack) == 1, first_day.slack
    assert first_day.slack[0].startswith(":white_check_mark: warehouse_refresh 2026-01-03")
    assert run.run_id in first_day.slack[0]
    assert leaked(stack, run) == []


def test_without_the_products_api_the_refresh_loads_the_rest_and_warns(stack: Stack, first_day: Snapshot) -> None:
    with stack.shop.connect() as conn:
        conn.execute("INSERT INTO orders VALUES (%s, %s, %s, %s, %s)", NEW_ORDER)
    stack.bucket.put("clickstream/2026-01-04.csv", NEW_EVENTS.encode())
    stack.api.failing = True
    before = len(stack.api.requests)
    stack.slack.texts.clear()
    try:
        run = stack.run("2026-01-04T06:00:00Z")
    finally:
        stack.api.failing = False

    # exit 1: the run failed (its products extract did), yet the warehouse was refreshed from the rest
    assert run.code == 1, run.explain()
    assert (run.states["extract_products"], run.tries["extract_products"]) == ("failed", 1)
    assert "budget" in run.errors["extract_products"], run.errors
    assert "500" in run.errors["extract_products"], run.errors
    assert run.states["load_products"] == run.states["check_raw_products"] == "upstream_failed"
    for task in ("warn_products_missing", "publish_products", "load_orders", "load_clickstream", "transform"):
        assert run.states[task] == "success", run.explain()
    assert run.states["dbt_build"] == "success", run.explain()
    assert run.states["notify_success"] == "upstream_failed"
    assert run.states["notify_failure"] == "skipped"
    assert len(stack.api.requests) - before > 1  # 500s were retried inside the budget, then given up

    # the new order and the new events are in, priced from the last known catalogue
    orders = [*seed_orders(), (NEW_ORDER[0], NEW_ORDER[2], NEW_ORDER[3])]
    facts = set(stack.warehouse("SELECT order_id, sku, quantity, unit_price, revenue FROM warehouse.fact_orders"))
    assert facts == expected_facts(orders)
    assert stack.warehouse("SELECT COUNT(*) FROM warehouse.dim_products") == [(9,)]
    events = clickstream_counts(NEW_EVENTS)
    activity = stack.warehouse("SELECT sku, views, add_to_carts FROM warehouse.product_activity")
    assert {(s, v, c) for s, v, c in activity} == {
        (s, events[s, "view"], events[s, "add_to_cart"]) for s, _, _ in activity
    }
    loads = stack.warehouse("SELECT run_id, orders, products, events, products_refreshed FROM warehouse.loads")
    assert (run.run_id, 25, 0, sum(events.values()), False) in loads
    assert stack.warehouse("SELECT SUM(orders) FROM marts.daily_revenue") == [(25,)]

    # Slack: the warning only
    assert len(stack.slack.texts) == 1, stack.slack.texts
    assert stack.slack.texts[0].startswith(":warning: warehouse_refresh 2026-01-04: the products API failed")
    assert run.run_id in stack.slack.texts[0]
    assert leaked(stack, run) == []


def test_bad_source_data_fails_the_refresh_keeps_the_warehouse_and_alerts(stack: Stack, first_day: Snapshot) -> None:
    before = sorted(stack.warehouse("SELECT * FROM warehouse.fact_orders"))
    marts = sorted(stack.warehouse("SELECT * FROM marts.daily_revenue"))
    stack.slack.texts.clear()
    with stack.shop.connect() as conn:
        conn.execute("INSERT INTO orders VALUES (9999, 1, 'P001', 0, '2026-01-05T08:00:00Z')")  # quantity 0
    try:
        run = stack.run("2026-01-05T06:00:00Z")
    finally:
        with stack.shop.connect() as conn:
            conn.execute("DELETE FROM orders WHERE order_id = 9999")

    assert run.code == 1, run.explain()
    assert run.states["check_source_orders"] == "failed"
    assert "9999" in run.errors["check_source_orders"], run.errors  # the check names the offending row
    assert run.tries["check_source_orders"] == 1  # bad data is not retried
    for task in ("extract_orders", "load_orders", "transform", "dbt_build", "notify_success"):
        assert run.states[task] == "upstream_failed", run.explain()
    assert run.states["notify_failure"] == "success"
    assert run.states["warn_products_missing"] == "skipped"
    assert sorted(stack.warehouse("SELECT * FROM warehouse.fact_orders")) == before
    assert sorted(stack.warehouse("SELECT * FROM marts.daily_revenue")) == marts

    assert len(stack.slack.texts) == 1, stack.slack.texts
    assert stack.slack.texts[0].startswith(":x: warehouse_refresh 2026-01-05 failed")
    assert run.run_id in stack.slack.texts[0]
    assert leaked(stack, run) == []
