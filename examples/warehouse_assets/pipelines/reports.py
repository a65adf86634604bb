"""A plain pipeline downstream of the assets: export the daily revenue to a CSV report.

It reads the ``fct_orders`` table the asset of the same name writes and reports that lineage, so
``headwater assets --lineage fct_orders`` shows this task as a reader of the table.
"""

from __future__ import annotations

import csv
import sqlite3
from contextlib import closing
from pathlib import Path

from headwater import Context, Pipeline, task

PROJECT = Path(__file__).resolve().parent.parent
WAREHOUSE_DB = PROJECT / "warehouse" / "warehouse.db"
REPORTS = PROJECT / "reports"


@task(retries=0)
def export_revenue(ctx: Context) -> dict[str, object]:
    """Revenue per day and country, from fct_orders, as reports/revenue.csv."""
    with closing(sqlite3.connect(WAREHOUSE_DB, timeout=30)) as db:
        rows = db.execute(
            "SELECT order_date, country, orders, revenue FROM fct_orders ORDER BY order_date, country"
        ).fetchall()
    REPORTS.mkdir(exist_ok=True)
    path = REPORTS / "revenue.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["order_date", "country", "orders", "revenue"])
        writer.writerows(rows)
    ctx.report_lineage(reads=["sqlite:warehouse.fct_orders"], writes=["file:reports/revenue.csv"])
    return {"path": str(path), "rows": len(rows)}


with Pipeline("revenue_report", schedule="0 7 * * *", start_date="2026-01-01", tags=["reports"]):
    export_revenue()
