"""An example pipeline: two extracts in parallel, validation, a load into SQLite, alerts.

``headwater run example`` runs it. Replace the extract bodies with your own sources; keep results
small (paths and counts) and let the files carry the data.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from headwater import Context, NotifyOperator, Pipeline, TriggerRule, task

OUTPUT = Path(__file__).resolve().parent.parent / "output"  # independent of the working directory
Staged = dict[str, Any]  # {"path": ..., "rows": ...}


def _stage(ctx: Context, name: str, rows: list[dict[str, Any]]) -> Staged:
    path = OUTPUT / "staging" / ctx.run_id / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows), encoding="utf-8")
    return {"path": str(path), "rows": len(rows)}


@task(pool="sources", retries=3, retry_delay="1s", retry_backoff=True, timeout="5m")
def extract_customers(ctx: Context) -> Staged:
    return _stage(ctx, "customers", [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}])


@task(pool="sources", retries=3, retry_delay="1s", retry_backoff=True, timeout="5m")
def extract_orders(ctx: Context) -> Staged:
    return _stage(
        ctx, "orders", [{"id": 10, "customer_id": 1, "amount": 42.0}, {"id": 11, "customer_id": 2, "amount": 7.5}]
    )


@task(retries=0)  # bad data will not fix itself: fail fast
def validate(ctx: Context, customers: Staged, orders: Staged) -> Staged:
    known = {c["id"] for c in json.loads(Path(customers["path"]).read_text(encoding="utf-8"))}
    for order in json.loads(Path(orders["path"]).read_text(encoding="utf-8")):
        if order["customer_id"] not in known:
            raise ValueError(f"order {order['id']} names unknown customer {order['customer_id']}")
    return {"customers": customers, "orders": orders}


@task(retries=2, retry_delay="1s")
def load(ctx: Context, staged: Staged) -> dict[str, int]:
    """Replace the tables in one transaction, so running it twice changes nothing."""
    counts: dict[str, int] = {}
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(OUTPUT / "example.db")) as db, db:
        db.execute("CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount REAL)")
        for table in ("customers", "orders"):
            rows = json.loads(Path(staged[table]["path"]).read_text(encoding="utf-8"))
            db.execute(f"DELETE FROM {table}")  # noqa: S608 - constant table names
            columns = ", ".join(rows[0])
            marks = ", ".join("?" * len(rows[0]))
            db.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", [tuple(r.values()) for r in rows])  # noqa: S608
            counts[table] = len(rows)
    shutil.rmtree(OUTPUT / "staging" / ctx.run_id, ignore_errors=True)
    ctx.log.info("loaded %s", counts)
    return counts


with Pipeline(
    "example",
    schedule="@daily",
    start_date="2026-01-01",
    catchup=False,
    default_args={"owner": "me", "timeout": "30m"},
    tags=["example"],
) as pipeline:
    loaded = load(validate(extract_customers(), extract_orders()))
    work = list(pipeline.tasks.values())
    loaded >> NotifyOperator("notify_success", kind="success", message="{pipeline_id} loaded for {logical_date}")
    work >> NotifyOperator(
        "notify_failure", kind="failure", trigger_rule=TriggerRule.ONE_FAILED, message="{pipeline_id} failed"
    )
