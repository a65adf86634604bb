"""Assets and events: materializations, per-partition status, lineage, freshness violations,
automation state, trigger events and cursors; a run's partition and a try's note.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("hw_runs") as batch:
        batch.add_column(sa.Column("partition_key", sa.String(200)))
    with op.batch_alter_table("hw_task_tries") as batch:
        batch.add_column(sa.Column("note", sa.Text))
    op.create_table(
        "hw_materializations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("asset_key", sa.String(200), nullable=False),
        sa.Column("partition_key", sa.String(200), nullable=False, server_default=""),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("pipeline_id", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("code_version", sa.String(100)),
        sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
        sa.Column("result_encoding", sa.String(10)),
        sa.Column("result_value", sa.Text),
        sa.Column("upstream", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_hw_materializations_asset", "hw_materializations", ["asset_key", "partition_key", "id"])
    op.create_table(
        "hw_asset_partitions",
        sa.Column("asset_key", sa.String(200), primary_key=True),
        sa.Column("partition_key", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("materialization_id", sa.Integer),
        sa.Column("run_id", sa.String(250)),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "hw_lineage",
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(200), primary_key=True),
        sa.Column("direction", sa.String(10), primary_key=True),
        sa.Column("dataset", sa.String(500), primary_key=True),
        sa.Column("pipeline_id", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_hw_lineage_dataset", "hw_lineage", ["dataset"])
    op.create_table(
        "hw_freshness_violations",
        sa.Column("asset_key", sa.String(200), primary_key=True),
        sa.Column("partition_key", sa.String(200), primary_key=True),
        sa.Column("expected_by", TS, primary_key=True),
        sa.Column("detected_at", TS, nullable=False),
        sa.Column("minutes_late", sa.Float, nullable=False),
        sa.Column("max_lag", sa.Float, nullable=False),
        sa.Column("last_materialized_at", TS),
    )
    op.create_table(
        "hw_asset_automation",
        sa.Column("asset_key", sa.String(200), primary_key=True),
        sa.Column("partition_key", sa.String(200), primary_key=True),
        sa.Column("seen_state", sa.Text),
        sa.Column("changed_at", TS),
        sa.Column("last_change_at", TS),
        sa.Column("requested_state", sa.Text),
        sa.Column("requested_run_id", sa.String(250)),
        sa.Column("requested_at", TS),
    )
    op.create_table(
        "hw_events",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pipeline_id", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("payload", sa.Text, nullable=False, server_default="{}"),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("state", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("run_id", sa.String(250)),
    )
    op.create_index("ix_hw_events_pipeline", "hw_events", ["pipeline_id", "state"])
    op.create_index("ix_hw_events_run", "hw_events", ["run_id"])
    op.create_table(
        "hw_trigger_cursors",
        sa.Column("pipeline_id", sa.String(200), primary_key=True),
        sa.Column("trigger", sa.String(200), primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "hw_trigger_cursors",
        "hw_events",
        "hw_asset_automation",
        "hw_freshness_violations",
        "hw_lineage",
        "hw_asset_partitions",
        "hw_materializations",
    ):
        op.drop_table(name)
    with op.batch_alter_table("hw_task_tries") as batch:
        batch.drop_column("note")
    with op.batch_alter_table("hw_runs") as batch:
        batch.drop_column("partition_key")
