"""The metadata schema. Changing it means adding an Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text

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
    # "default" for scheduled and manual runs, "backfill" for a backfill's runs (their own budget)
    Column("lane", String(20), nullable=False, default="default"),
    Column("backfill_id", String(100)),
    # the lease of the process driving the run; every write it makes is fenced by lease_epoch
    Column("lease_owner", String(200)),
    Column("lease_epoch", Integer, nullable=False, default=0),
    Column("lease_expires_at", DateTime(timezone=True)),
    Index("ix_hw_runs_pipeline", "pipeline_id", "created_at"),
    Index("ix_hw_runs_state", "state", "lane"),
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
    Column("heartbeat_at", DateTime(timezone=True)),
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

# -- scheduling (migration 0002) ----------------------------------------------------------------

pipelines = Table(
    "hw_pipelines",
    metadata,
    Column("pipeline_id", String(200), primary_key=True),
    Column("file", Text),
    # bumped to serialise run creation and admission for one pipeline across schedulers
    Column("lock", Integer, nullable=False, default=0),
    # the end of the newest scheduled interval a run was created for (the catch-up cursor)
    Column("last_interval_end", DateTime(timezone=True)),
    Column("paused", Boolean, nullable=False, default=False),
    Column("updated_at", DateTime(timezone=True)),
)

schedulers = Table(
    "hw_schedulers",
    metadata,
    Column("scheduler_id", String(200), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True)),
)

pools = Table(
    "hw_pools",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("slots", Integer, nullable=False),
    Column("backfill_slots", Integer, nullable=False),
    Column("lock", Integer, nullable=False, default=0),
)

pool_slots = Table(
    "hw_pool_slots",
    metadata,
    Column("run_id", String(250), primary_key=True),
    Column("task_id", String(200), primary_key=True),
    Column("try_number", Integer, primary_key=True),
    Column("pool", String(100), nullable=False),
    Column("slots", Integer, nullable=False),
    Column("lane", String(20), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Index("ix_hw_pool_slots_pool", "pool"),
)

backfills = Table(
    "hw_backfills",
    metadata,
    Column("backfill_id", String(100), primary_key=True),
    Column("pipeline_id", String(200), nullable=False),
    Column("range_start", DateTime(timezone=True), nullable=False),
    Column("range_end", DateTime(timezone=True), nullable=False),
    Column("parallelism", Integer, nullable=False),
    Column("strategy", String(20), nullable=False),
    Column("skip_existing", Boolean, nullable=False),
    Column("state", String(20), nullable=False),
    Column("total", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
)

circuit_breakers = Table(
    "hw_circuit_breakers",
    metadata,
    Column("pipeline_id", String(200), primary_key=True),
    Column("task_id", String(200), primary_key=True),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("state", String(10), nullable=False, default="closed"),  # closed | open
    Column("opened_at", DateTime(timezone=True)),
    Column("last_run_id", String(250)),
    Column("last_error", Text),
)

deadline_misses = Table(
    "hw_deadline_misses",
    metadata,
    Column("run_id", String(250), primary_key=True),
    Column("kind", String(20), primary_key=True),  # predicted | missed
    Column("pipeline_id", String(200), nullable=False),
    Column("deadline_at", DateTime(timezone=True), nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("expected_end_at", DateTime(timezone=True)),
    Column("minutes_late", Float, nullable=False),
    Column("critical_path", Text, nullable=False, default=""),
)
