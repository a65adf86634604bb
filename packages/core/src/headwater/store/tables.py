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
    # the partition a run materializes (migration 0003); None for unpartitioned runs
    Column("partition_key", String(200)),
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
    # what the try did instead of running, e.g. "cache hit" (migration 0003)
    Column("note", Text),
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

# -- assets and events (migration 0003) ---------------------------------------------------------

#: One row per successful materialization of an asset (partition_key "" when unpartitioned).
materializations = Table(
    "hw_materializations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_key", String(200), nullable=False),
    Column("partition_key", String(200), nullable=False, default=""),
    Column("run_id", String(250), nullable=False),
    Column("task_id", String(200), nullable=False),
    Column("pipeline_id", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("code_version", String(100)),
    Column("metadata", Text, nullable=False, default="{}"),  # JSON: Materialization(metadata=...)
    Column("result_encoding", String(10)),  # the asset's value, as an EncodedResult
    Column("result_value", Text),
    Column("upstream", Text, nullable=False, default="{}"),  # JSON: {upstream asset: newest materialization id used}
    Index("ix_hw_materializations_asset", "asset_key", "partition_key", "id"),
)

#: The latest known state of each asset partition: materialized (with its newest materialization) or failed.
asset_partitions = Table(
    "hw_asset_partitions",
    metadata,
    Column("asset_key", String(200), primary_key=True),
    Column("partition_key", String(200), primary_key=True),
    Column("state", String(20), nullable=False),  # materialized | failed
    Column("materialization_id", Integer),  # the newest successful materialization, kept when a later one fails
    Column("run_id", String(250)),  # the run of the latest attempt
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: Datasets (tables, keys, URLs) a task reported reading or writing.
lineage = Table(
    "hw_lineage",
    metadata,
    Column("run_id", String(250), primary_key=True),
    Column("task_id", String(200), primary_key=True),
    Column("direction", String(10), primary_key=True),  # reads | writes
    Column("dataset", String(500), primary_key=True),
    Column("pipeline_id", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_hw_lineage_dataset", "dataset"),
)

#: An asset (partition) that was not fresh by ``expected_by``; recorded (and alerted) once.
freshness_violations = Table(
    "hw_freshness_violations",
    metadata,
    Column("asset_key", String(200), primary_key=True),
    Column("partition_key", String(200), primary_key=True),
    Column("expected_by", DateTime(timezone=True), primary_key=True),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("minutes_late", Float, nullable=False),
    Column("max_lag", Float, nullable=False),
    Column("last_materialized_at", DateTime(timezone=True)),
)

#: Auto-materialization state per asset partition: the upstream state seen and the one last requested.
asset_automation = Table(
    "hw_asset_automation",
    metadata,
    Column("asset_key", String(200), primary_key=True),
    Column("partition_key", String(200), primary_key=True),
    Column("seen_state", Text),  # the upstream state (JSON) seen at the last evaluation
    Column("changed_at", DateTime(timezone=True)),  # first upstream change not yet acted on
    Column("last_change_at", DateTime(timezone=True)),  # newest upstream change (debounce quiet period)
    Column("requested_state", Text),  # the upstream state the last requested run materializes
    Column("requested_run_id", String(250)),
    Column("requested_at", DateTime(timezone=True)),
)

#: Events received by a pipeline's triggers; ``run_id`` names the run they fired.
events = Table(
    "hw_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline_id", String(200), nullable=False),
    Column("trigger", String(200), nullable=False),  # the trigger's description, e.g. "file:landing/*.csv"
    Column("kind", String(50), nullable=False),  # file | asset | webhook | database | a plugin's kind
    Column("payload", Text, nullable=False, default="{}"),  # JSON
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("state", String(20), nullable=False, default="pending"),  # pending | fired
    Column("run_id", String(250)),
    Index("ix_hw_events_pipeline", "pipeline_id", "state"),
    Index("ix_hw_events_run", "run_id"),
)

#: Where each trigger left off (files seen, newest materialization id): survives restarts.
trigger_cursors = Table(
    "hw_trigger_cursors",
    metadata,
    Column("pipeline_id", String(200), primary_key=True),
    Column("trigger", String(200), primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
