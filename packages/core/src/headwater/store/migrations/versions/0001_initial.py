"""Initial schema: runs, task instances, task tries, results.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hw_runs",
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("pipeline_id", sa.String(200), nullable=False),
        sa.Column("pipeline_file", sa.Text),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("logical_date", TS, nullable=False),
        sa.Column("interval_start", TS, nullable=False),
        sa.Column("interval_end", TS, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("trigger", sa.String(50), nullable=False),
        sa.Column("executor", sa.String(100)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
    )
    op.create_index("ix_hw_runs_pipeline", "hw_runs", ["pipeline_id", "created_at"])
    op.create_table(
        "hw_task_instances",
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(200), primary_key=True),
        sa.Column("pipeline_id", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("try_number", sa.Integer, nullable=False),
        sa.Column("max_tries", sa.Integer, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("pool", sa.String(100)),
        sa.Column("next_try_at", TS),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
        sa.Column("duration", sa.Float),
    )
    op.create_table(
        "hw_task_tries",
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(200), primary_key=True),
        sa.Column("try_number", sa.Integer, primary_key=True),
        sa.Column("pipeline_id", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("queued_at", TS),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
        sa.Column("duration", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("log_path", sa.Text),
    )
    op.create_index("ix_hw_task_tries_task", "hw_task_tries", ["pipeline_id", "task_id", "state"])
    op.create_table(
        "hw_results",
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(200), primary_key=True),
        sa.Column("encoding", sa.String(10), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hw_results")
    op.drop_index("ix_hw_task_tries_task", "hw_task_tries")
    op.drop_table("hw_task_tries")
    op.drop_table("hw_task_instances")
    op.drop_index("ix_hw_runs_pipeline", "hw_runs")
    op.drop_table("hw_runs")
