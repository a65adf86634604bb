"""The scheduler: run leases and lanes, try heartbeats, pipelines, schedulers, pool slot leases,
backfills, circuit breakers and deadline misses.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("hw_runs") as batch:
        batch.add_column(sa.Column("lane", sa.String(20), nullable=False, server_default="default"))
        batch.add_column(sa.Column("backfill_id", sa.String(100)))
        batch.add_column(sa.Column("lease_owner", sa.String(200)))
        batch.add_column(sa.Column("lease_epoch", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("lease_expires_at", TS))
    op.create_index("ix_hw_runs_state", "hw_runs", ["state", "lane"])
    with op.batch_alter_table("hw_task_tries") as batch:
        batch.add_column(sa.Column("heartbeat_at", TS))
    op.create_table(
        "hw_pipelines",
        sa.Column("pipeline_id", sa.String(200), primary_key=True),
        sa.Column("file", sa.Text),
        sa.Column("lock", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_interval_end", TS),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("updated_at", TS),
    )
    op.create_table(
        "hw_schedulers",
        sa.Column("scheduler_id", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
        sa.Column("stopped_at", TS),
    )
    op.create_table(
        "hw_pools",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("slots", sa.Integer, nullable=False),
        sa.Column("backfill_slots", sa.Integer, nullable=False),
        sa.Column("lock", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "hw_pool_slots",
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(200), primary_key=True),
        sa.Column("try_number", sa.Integer, primary_key=True),
        sa.Column("pool", sa.String(100), nullable=False),
        sa.Column("slots", sa.Integer, nullable=False),
        sa.Column("lane", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("acquired_at", TS, nullable=False),
    )
    op.create_index("ix_hw_pool_slots_pool", "hw_pool_slots", ["pool"])
    op.create_table(
        "hw_backfills",
        sa.Column("backfill_id", sa.String(100), primary_key=True),
        sa.Column("pipeline_id", sa.String(200), nullable=False),
        sa.Column("range_start", TS, nullable=False),
        sa.Column("range_end", TS, nullable=False),
        sa.Column("parallelism", sa.Integer, nullable=False),
        sa.Column("strategy", sa.String(20), nullable=False),
        sa.Column("skip_existing", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("ended_at", TS),
    )
    op.create_table(
        "hw_circuit_breakers",
        sa.Column("pipeline_id", sa.String(200), primary_key=True),
        sa.Column("task_id", sa.String(200), primary_key=True),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("state", sa.String(10), nullable=False, server_default="closed"),
        sa.Column("opened_at", TS),
        sa.Column("last_run_id", sa.String(250)),
        sa.Column("last_error", sa.Text),
    )
    op.create_table(
        "hw_deadline_misses",
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("pipeline_id", sa.String(200), nullable=False),
        sa.Column("deadline_at", TS, nullable=False),
        sa.Column("detected_at", TS, nullable=False),
        sa.Column("expected_end_at", TS),
        sa.Column("minutes_late", sa.Float, nullable=False),
        sa.Column("critical_path", sa.Text, nullable=False, server_default=""),
    )


def downgrade() -> None:
    for table in (
        "hw_deadline_misses",
        "hw_circuit_breakers",
        "hw_backfills",
        "hw_pool_slots",
        "hw_pools",
        "hw_schedulers",
        "hw_pipelines",
    ):
        op.drop_table(table)
    with op.batch_alter_table("hw_task_tries") as batch:
        batch.drop_column("heartbeat_at")
    op.drop_index("ix_hw_runs_state", "hw_runs")
    with op.batch_alter_table("hw_runs") as batch:
        for column in ("lease_expires_at", "lease_epoch", "lease_owner", "backfill_id", "lane"):
            batch.drop_column(column)
