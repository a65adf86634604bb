"""Warehouse refresh: extract three sources in parallel, validate each, join, load, check, notify.

The sources ship in ``data/``: orders in a SQLite database (built from ``data/orders.sql`` on first
run), products from a JSON "API" read page by page (each page names the next), and clickstream CSV
files in an "object store" folder. The warehouse is ``warehouse/warehouse.db``. Tasks hand each other
small results (staging file paths and row counts), never the data itself. Every path is resolved from
this file, so the pipeline runs the same from any working directory.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from headwater import Context, NotifyOperator, Pipeline, TriggerRule, task

PROJECT = Path(__file__).resolve().parent.parent
DATA = PROJECT / "data"
WAREHOUSE = PROJECT / "warehouse"
WAREHOUSE_DB = WAREHOUSE / "warehouse.db"
RETRY_DELAY = "1s"  # short so the demo stays fast; a real source would use "1m" or more

Row = dict[str, Any]
Staged = dict[str, Any]  # {"path": "<staging file>", "rows": <count>}


class DataValidationError(ValueError):
    """A source or the warehouse broke a data contract (never retried: the data will not fix itself)."""


# -- staging: JSON-lines files under warehouse/staging/<run_id>/ --------------------------------------
def _stage(ctx: Context, name: str, rows: list[Row], **extra: object) -> Staged:
    directory = WAREHOUSE / "staging" / ctx.run_id
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.jsonl"
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    tmp.replace(path)  # atomic: a retried task never sees half a file
    ctx.log.info("staged %d %s rows in %s", len(rows), name, path)
    return {"path": str(path), "rows": len(rows), **extra}


def _read(staged: Staged) -> Iterator[Row]:
    with open(staged["path"], encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


# -- sources -------------------------------------------------------------------------------------------
def _orders_db() -> Path:
    """The orders source database, built from the shipped SQL seed the first time it is needed."""
    path = DATA / "orders.db"
    if not path.exists():
        tmp = path.with_name(f"orders.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        with closing(sqlite3.connect(tmp)) as db:
            db.executescript((DATA / "orders.sql").read_text(encoding="utf-8"))
        tmp.replace(path)
    return path


def _api_pages(first: str) -> Iterator[dict[str, Any]]:
    """GET each page of the products "API" in turn, following its ``next`` link."""
    url: str | None = first
    seen: set[str] = set()
    while url is not None:
        if url in seen:
            raise RuntimeError(f"products API: page {url} links back to itself")
        seen.add(url)
        page: dict[str, Any] = json.loads((DATA / "api" / url).read_text(encoding="utf-8"))
        yield page
        url = page.get("next")


@task(pool="sources", timeout="5m")
def extract_orders(ctx: Context) -> Staged:
    with closing(sqlite3.connect(_orders_db())) as db:
        db.row_factory = sqlite3.Row
        rows = [
            dict(r)
            for r in db.execute(
                "SELECT o.order_id, o.customer_id, c.country, o.sku, o.quantity, o.ordered_at"
                " FROM orders o LEFT JOIN customers c USING (customer_id) ORDER BY o.order_id"
            )
        ]
    return _stage(ctx, "orders", rows)


@task(
    pool="sources",
    retries=3,
    retry_delay=RETRY_DELAY,
    retry_backoff=True,
    max_retry_delay="30s",
    retry_on=(ConnectionError, TimeoutError),
    timeout="2m",
)
def extract_products(ctx: Context) -> Staged:
    """A flaky API: the first ``fail_products_times`` tries fail with a connection error."""
    fail_times = int(str(ctx.params["fail_products_times"]))
    if ctx.try_number <= fail_times:
        raise ConnectionError(f"products API unavailable (simulated failure {ctx.try_number} of {fail_times})")
    rows: list[Row] = []
    pages = 0
    for page in _api_pages("products_page_1.json"):
        ctx.check_cancelled()
        pages += 1
        rows.extend(
            {"sku": p.get("sku"), "name": p.get("name"), "category": p.get("category"), "price": p.get("price")}
            for p in page["items"]
        )
    return _stage(ctx, "products", rows, pages=pages)


@task(pool="sources", timeout="5m")
def extract_clickstream(ctx: Context) -> Staged:
    files = sorted((DATA / "object_store" / "clickstream").glob("*.csv"))
    rows: list[Row] = []
    for file in files:
        with file.open(newline="", encoding="utf-8") as f:
            rows.extend({**r, "source_file": file.name} for r in csv.DictReader(f))
    return _stage(ctx, "clickstream", rows, files=len(files))


# -- validation: fail fast -----------------------------------------------------------------------------
def _validate(staged: Staged, *, key: str, required: tuple[str, ...], check: Callable[[Row], str | None]) -> Staged:
    problems: list[str] = []
    seen: set[object] = set()
    for n, row in enumerate(_read(staged), 1):
        empty = [c for c in required if row.get(c) in (None, "")]
        if empty:
            problems.append(f"row {n}: empty {', '.join(empty)}")
        elif row[key] in seen:
            problems.append(f"row {n}: duplicate {key} {row[key]!r}")
        elif (problem := check(row)) is not None:
            problems.append(f"row {n}: {problem}")
        seen.add(row.get(key))
    if not seen:
        problems.append("no rows")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise DataValidationError(f"{staged['path']}: " + "; ".join(problems[:5]) + more)
    return staged


@task(retries=0)
def validate_orders(ctx: Context, staged: Staged) -> Staged:
    def check(row: Row) -> str | None:
        return None if isinstance(row["quantity"], int) and row["quantity"] > 0 else f"bad quantity {row['quantity']!r}"

    return _validate(staged, key="order_id", required=("order_id", "customer_id", "sku", "ordered_at"), check=check)


@task(retries=0)
def validate_products(ctx: Context, staged: Staged) -> Staged:
    def check(row: Row) -> str | None:
        price = row["price"]
        return None if isinstance(price, int | float) and price >= 0 else f"bad price {price!r}"

    return _validate(staged, key="sku", required=("sku", "name", "category", "price"), check=check)


@task(retries=0)
def validate_clickstream(ctx: Context, staged: Staged) -> Staged:
    def check(row: Row) -> str | None:
        kind = row["event_type"]
        return None if kind in ("view", "add_to_cart") else f"unknown event_type {kind!r}"

    return _validate(staged, key="event_id", required=("event_id", "event_time", "sku", "event_type"), check=check)


# -- transform and load --------------------------------------------------------------------------------
@task
def transform(ctx: Context, orders: Staged, products: Staged, clickstream: Staged) -> dict[str, Staged]:
    """Orders priced from the catalogue (a left join: unknown products surface in the checks),
    plus per-product activity: views, add-to-carts, orders, units and revenue."""
    catalogue = {p["sku"]: p for p in _read(products)}
    activity: dict[str, Row] = {}

    def stats(sku: str) -> Row:
        return activity.setdefault(
            sku, {"sku": sku, "views": 0, "add_to_carts": 0, "orders": 0, "units": 0, "revenue": 0.0}
        )

    for sku in catalogue:
        stats(sku)

    facts: list[Row] = []
    for order in _read(orders):
        product = catalogue.get(order["sku"])
        price = product["price"] if product else None
        revenue = None if price is None else round(price * order["quantity"], 2)
        facts.append({**order, "unit_price": price, "revenue": revenue})
        s = stats(order["sku"])
        s["orders"] += 1
        s["units"] += order["quantity"]
        s["revenue"] = round(s["revenue"] + (revenue or 0.0), 2)
    for event in _read(clickstream):
        stats(event["sku"])["views" if event["event_type"] == "view" else "add_to_carts"] += 1
    return {
        "dim_products": _stage(ctx, "dim_products", list(catalogue.values())),
        "fact_orders": _stage(ctx, "fact_orders", facts),
        "product_activity": _stage(ctx, "product_activity", sorted(activity.values(), key=lambda r: r["sku"])),
    }


SCHEMA = """
CREATE TABLE IF NOT EXISTS dim_products (sku TEXT PRIMARY KEY, name TEXT, category TEXT, price REAL);
CREATE TABLE IF NOT EXISTS fact_orders (
    order_id INTEGER PRIMARY KEY, customer_id INTEGER, country TEXT, sku TEXT,
    quantity INTEGER, unit_price REAL, revenue REAL, ordered_at TEXT
);
CREATE TABLE IF NOT EXISTS product_activity (
    sku TEXT PRIMARY KEY, views INTEGER, add_to_carts INTEGER, orders INTEGER, units INTEGER, revenue REAL
);
CREATE TABLE IF NOT EXISTS loads (run_id TEXT PRIMARY KEY, logical_date TEXT, loaded_at TEXT, row_counts TEXT);
"""
TABLES = ("dim_products", "fact_orders", "product_activity")


def _warehouse() -> sqlite3.Connection:
    WAREHOUSE.mkdir(parents=True, exist_ok=True)
    return sqlite3.connect(WAREHOUSE_DB, timeout=30)


@task
def load(ctx: Context, tables: Mapping[str, Staged]) -> dict[str, int]:
    """Replace every table's contents in one transaction: running it again gives the same warehouse."""
    counts: dict[str, int] = {}
    with closing(_warehouse()) as db:
        db.executescript(SCHEMA)
        with db:  # one transaction: readers see the old warehouse or the new one, never a mix
            for table in TABLES:
                rows = list(_read(tables[table]))
                db.execute(f"DELETE FROM {table}")  # noqa: S608 - table names are constants
                if rows:
                    columns = list(rows[0])
                    db.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",  # noqa: S608
                        [tuple(r[c] for c in columns) for r in rows],
                    )
                counts[table] = len(rows)
            db.execute(
                "INSERT OR REPLACE INTO loads VALUES (?, ?, ?, ?)",
                (ctx.run_id, ctx.logical_date.isoformat(), datetime.now(UTC).isoformat(), json.dumps(counts)),
            )
    shutil.rmtree(WAREHOUSE / "staging" / ctx.run_id, ignore_errors=True)
    ctx.log.info("loaded %s into %s", counts, WAREHOUSE_DB)
    return counts


# -- quality checks on the warehouse: fail fast ---------------------------------------------------------
def _query(sql: str) -> list[tuple[Any, ...]]:
    with closing(_warehouse()) as db:
        return db.execute(sql).fetchall()


@task(retries=0)
def check_row_counts(ctx: Context, loaded: Mapping[str, int]) -> dict[str, int]:
    counts = {t: _query(f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}  # noqa: S608
    empty = [t for t, n in counts.items() if n == 0]
    if empty:
        raise DataValidationError(f"empty table(s): {', '.join(empty)}")
    if counts != dict(loaded):
        raise DataValidationError(f"row counts {counts} differ from what was loaded {dict(loaded)}")
    return counts


@task(retries=0)
def check_no_null_keys(ctx: Context, loaded: Mapping[str, int]) -> int:
    keys = [("dim_products", "sku"), ("fact_orders", "sku"), ("fact_orders", "customer_id")]
    keys.append(("product_activity", "sku"))
    nulls = {f"{t}.{k}": _query(f"SELECT count(*) FROM {t} WHERE {k} IS NULL")[0][0] for t, k in keys}  # noqa: S608
    bad = {t: n for t, n in nulls.items() if n}
    if bad:
        raise DataValidationError(f"null keys: {bad}")
    return 0


@task(retries=0)
def check_referential_integrity(ctx: Context, loaded: Mapping[str, int]) -> int:
    orphans = [
        f"{t}.sku {sku!r}"
        for t in ("fact_orders", "product_activity")
        for (sku,) in _query(f"SELECT DISTINCT sku FROM {t} WHERE sku NOT IN (SELECT sku FROM dim_products)")  # noqa: S608
    ]
    if orphans:
        raise DataValidationError(f"rows reference unknown products: {', '.join(orphans)}")
    return 0


# -- the pipeline ----------------------------------------------------------------------------------------
with Pipeline(
    "warehouse_refresh",
    schedule="0 6 * * *",
    start_date="2026-01-01",
    timezone="UTC",
    catchup=False,
    max_active_runs=1,
    timeout="4h",
    default_args={"owner": "data-team", "retries": 2, "retry_delay": RETRY_DELAY, "timeout": "30m"},
    tags=["etl", "daily", "example"],
    params={"fail_products_times": 0},
    description="Orders, products and clickstream into a SQLite warehouse, checked and announced.",
) as pipeline:
    orders = extract_orders()
    products = extract_products()
    clickstream = extract_clickstream()
    tables = transform(validate_orders(orders), validate_products(products), validate_clickstream(clickstream))
    loaded = load(tables)
    checks = [check_row_counts(loaded), check_no_null_keys(loaded), check_referential_integrity(loaded)]
    work = list(pipeline.tasks.values())  # every task so far: a failure in any of them sends the alert
    checks >> NotifyOperator("notify_success", kind="success", message="warehouse refreshed for {logical_date}")
    work >> NotifyOperator(
        "notify_failure",
        kind="failure",
        trigger_rule=TriggerRule.ONE_FAILED,
        message="warehouse refresh failed: see `headwater history {pipeline_id}`",
    )
