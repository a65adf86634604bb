"""Warehouse assets: the warehouse refresh as data assets, partitioned by day, with a monthly rollup.

```
raw_orders (daily) ──► stg_orders (daily) ──► fct_orders (daily) ──► orders_monthly (monthly)
                          dim_customers ──────────┘
```

``raw_orders`` plays the source system: it generates the day's orders deterministically (the same
day always gives the same orders) and lands them as a CSV file. The other assets are tables of a
SQLite warehouse (``warehouse/warehouse.db``), each partition replaced in one transaction, so
materializing a partition again gives the same rows. Every path is resolved from this file, so the
project runs the same from any working directory.
"""

from __future__ import annotations

import csv
import random
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from headwater import (
    Context,
    DailyPartitions,
    Freshness,
    Materialization,
    MonthlyPartitions,
    asset,
)

PROJECT = Path(__file__).resolve().parent.parent
WAREHOUSE = PROJECT / "warehouse"
LANDING = WAREHOUSE / "landing" / "orders"
WAREHOUSE_DB = WAREHOUSE / "warehouse.db"

DAILY = DailyPartitions(start="2026-01-01")
MONTHLY = MonthlyPartitions(start="2026-01-01")

#: The catalogue the generated orders draw from: sku -> unit price.
PRICES = {
    "SKU-001": 12.5,
    "SKU-002": 8.0,
    "SKU-003": 23.9,
    "SKU-004": 4.25,
    "SKU-005": 99.0,
    "SKU-006": 15.0,
    "SKU-007": 42.0,
    "SKU-008": 6.75,
    "SKU-009": 31.5,
}
#: The customers (id, name, country): the one unpartitioned asset.
CUSTOMERS = [
    (1, "Avery", "DE"),
    (2, "Blake", "FR"),
    (3, "Casey", "DE"),
    (4, "Devon", "NL"),
    (5, "Emery", "FR"),
    (6, "Finley", "US"),
    (7, "Gray", "US"),
    (8, "Harper", "DE"),
    (9, "Indigo", "NL"),
    (10, "Jules", "US"),
]


@contextmanager
def warehouse() -> Iterator[sqlite3.Connection]:
    """A connection to the warehouse in one transaction (committed at the end, rolled back on error)."""
    WAREHOUSE.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(WAREHOUSE_DB, timeout=30)) as db, db:
        db.executescript(
            """
            CREATE TABLE IF NOT EXISTS dim_customers (customer_id INTEGER PRIMARY KEY, name TEXT, country TEXT);
            CREATE TABLE IF NOT EXISTS stg_orders (
                order_id TEXT PRIMARY KEY, order_date TEXT, customer_id INTEGER, sku TEXT,
                quantity INTEGER, unit_price REAL, amount REAL);
            CREATE TABLE IF NOT EXISTS fct_orders (
                order_date TEXT, country TEXT, orders INTEGER, units INTEGER, revenue REAL,
                PRIMARY KEY (order_date, country));
            CREATE TABLE IF NOT EXISTS orders_monthly (
                month TEXT, country TEXT, orders INTEGER, units INTEGER, revenue REAL, days INTEGER,
                PRIMARY KEY (month, country));
            """
        )
        yield db


def generate_orders(day: str) -> list[dict[str, Any]]:
    """The orders the source system has for ``day`` (YYYY-MM-DD): 20 to 40, about one in ten cancelled."""
    rng = random.Random(f"orders-{day}")
    orders = []
    for n in range(1, rng.randint(20, 40) + 1):
        sku = rng.choice(sorted(PRICES))
        orders.append(
            {
                "order_id": f"{day.replace('-', '')}-{n:03d}",
                "order_date": day,
                "customer_id": rng.randint(1, len(CUSTOMERS)),
                "sku": sku,
                "quantity": rng.randint(1, 5),
                "status": "cancelled" if rng.random() < 0.1 else "placed",
            }
        )
    return orders


@asset(partitions=DAILY, group="sales", owner="data-team", retries=2, retry_delay="1s")
def raw_orders(ctx: Context) -> Materialization:
    """The day's orders, landed by the source system as a CSV file."""
    day = str(ctx.partition)
    rows = generate_orders(day)
    LANDING.mkdir(parents=True, exist_ok=True)
    path = LANDING / f"{day}.csv"
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)  # atomic: a retried try never leaves half a file
    ctx.report_lineage(writes=[f"file:landing/orders/{day}.csv"])
    return Materialization({"path": str(path), "rows": len(rows)}, metadata={"rows": len(rows)})


@asset(group="sales", owner="data-team")
def dim_customers(ctx: Context) -> Materialization:
    """Customers with their country (unpartitioned: the whole table every time)."""
    with warehouse() as db:
        db.execute("DELETE FROM dim_customers")
        db.executemany("INSERT INTO dim_customers VALUES (?, ?, ?)", CUSTOMERS)
    ctx.report_lineage(writes=["sqlite:warehouse.dim_customers"])
    return Materialization({"rows": len(CUSTOMERS)}, metadata={"rows": len(CUSTOMERS)})


@asset(partitions=DAILY, group="sales", owner="data-team")
def stg_orders(ctx: Context, raw_orders: Mapping[str, Any]) -> Materialization:
    """The day's placed orders, priced from the catalogue (cancelled orders dropped)."""
    day = str(ctx.partition)
    with open(raw_orders["path"], newline="", encoding="utf-8") as f:
        landed = list(csv.DictReader(f))
    placed = [r for r in landed if r["status"] == "placed"]
    rows = [
        (
            r["order_id"],
            day,
            int(r["customer_id"]),
            r["sku"],
            int(r["quantity"]),
            PRICES[r["sku"]],
            round(PRICES[r["sku"]] * int(r["quantity"]), 2),
        )
        for r in placed
    ]
    with warehouse() as db:
        db.execute("DELETE FROM stg_orders WHERE order_date = ?", (day,))
        db.executemany("INSERT INTO stg_orders VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    ctx.report_lineage(reads=[f"file:landing/orders/{day}.csv"], writes=["sqlite:warehouse.stg_orders"])
    dropped = len(landed) - len(rows)
    return Materialization({"day": day, "rows": len(rows)}, metadata={"rows": len(rows), "dropped": dropped})


@asset(
    partitions=DAILY,
    group="sales",
    owner="data-team",
    freshness=Freshness(max_lag="3h", cron="0 6 * * *"),
)
def fct_orders(ctx: Context, stg_orders: Mapping[str, Any], dim_customers: Mapping[str, Any]) -> Materialization:
    """Orders, units and revenue per day and customer country."""
    day = str(ctx.partition)
    with warehouse() as db:
        db.execute("DELETE FROM fct_orders WHERE order_date = ?", (day,))
        db.execute(
            """
            INSERT INTO fct_orders
            SELECT s.order_date, c.country, count(*), sum(s.quantity), round(sum(s.amount), 2)
            FROM stg_orders s JOIN dim_customers c USING (customer_id)
            WHERE s.order_date = ? GROUP BY s.order_date, c.country
            """,
            (day,),
        )
        orders, revenue = db.execute(
            "SELECT coalesce(sum(orders), 0), coalesce(round(sum(revenue), 2), 0) FROM fct_orders WHERE order_date = ?",
            (day,),
        ).fetchone()
    ctx.report_lineage(
        reads=["sqlite:warehouse.stg_orders", "sqlite:warehouse.dim_customers"],
        writes=["sqlite:warehouse.fct_orders"],
    )
    if orders != stg_orders["rows"]:
        raise ValueError(f"{day}: {stg_orders['rows']} staged orders but {orders} in fct_orders (unknown customer?)")
    return Materialization(
        {"day": day, "orders": orders, "revenue": revenue},
        metadata={"orders": orders, "revenue": revenue},
    )


@asset(partitions=MONTHLY, group="sales", owner="finance")
def orders_monthly(ctx: Context, fct_orders: Mapping[str, Mapping[str, Any]]) -> Materialization:
    """The month's orders and revenue per country; receives every daily fct_orders value of the month."""
    month = str(ctx.partition)
    with warehouse() as db:
        db.execute("DELETE FROM orders_monthly WHERE month = ?", (month,))
        db.execute(
            """
            INSERT INTO orders_monthly
            SELECT substr(order_date, 1, 7), country, sum(orders), sum(units), round(sum(revenue), 2),
                   count(DISTINCT order_date)
            FROM fct_orders WHERE substr(order_date, 1, 7) = ? GROUP BY 1, 2
            """,
            (month,),
        )
    ctx.report_lineage(reads=["sqlite:warehouse.fct_orders"], writes=["sqlite:warehouse.orders_monthly"])
    revenue = round(sum(day["revenue"] for day in fct_orders.values()), 2)
    orders = sum(day["orders"] for day in fct_orders.values())
    return Materialization(
        {"month": month, "orders": orders, "revenue": revenue},
        metadata={"days": len(fct_orders), "orders": orders, "revenue": revenue},
    )
