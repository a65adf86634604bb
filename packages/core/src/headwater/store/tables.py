"""The metadata schema. Changing it means adding an Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

runs = Table(
    "hw_runs",
    metadata,
    Column("run_id", String(250), primary_key=True),
    Column("pipeline_id", String(200), nullable=False),
    Column("pipeline_file", Text),
    Column("state", String(20), nullable=False),
    Column("logical_date", DateTime(timezone=True), nullable=False),
    Column("interval_start", DateTime(timezone=True), nullable=False),
    Column("interval_end", DateTime(timezone=True), nullable=False),
    Column("params", Text, nullable=False, default="{}"),
    Column("trigger", String(50), nullable=False, default="manual"),
    Column("executor", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Index("ix_hw_runs_pipeline", "pipeline_id", "created_at"),
)

task_instances = Table(
    "hw_task_instances",
    metadata,
    Column("run_id", String(250), primary_key=True),
    Column("task_id", String(200), primary_key=True),
    Column("pipeline_id", String(200), nullable=False),
    Column("state", String(20), nullable=False),
    Column("try_number", Integer, nullable=False, default=0),
    Column("max_tries", Integer, nullable=False, default=1),
    Column("priority", Integer, nullable=False, default=1),
    Column("pool", String(100)),
    Column("next_try_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("duration", Float),
)

task_tries = Table(
    "hw_task_tries",
    metadata,
    Column("run_id", String(250), primary_key=True),
    Column("task_id", String(200), primary_key=True),
    Column("try_number", Integer, primary_key=True),
    Column("pipeline_id", String(200), nullable=False),
    Column("state", String(20), nullable=False),
    Column("queued_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("duration", Float),
    Column("error", Text),
    Column("log_path", Text),
    Index("ix_hw_task_tries_task", "pipeline_id", "task_id", "state"),
)

results = Table(
    "hw_results",
    metadata,
    Column("run_id", String(250), primary_key=True),
    Column("task_id", String(200), primary_key=True),
    Column("encoding", String(10), nullable=False),
    Column("value", Text, nullable=False),
)
