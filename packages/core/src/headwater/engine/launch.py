"""Wire a project's settings, store and executor to the run engine."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from headwater.config.settings import Project
from headwater.engine.clock import Clock
from headwater.engine.listener import RunListener, RunSummary
from headwater.engine.run import RunEngine
from headwater.errors import UsageError
from headwater.executors.base import Executor
from headwater.model.pipeline import Pipeline
from headwater.store.records import RunRecord
from headwater.store.repository import Store


def open_store(project: Project) -> Store:
    from headwater.store.database import connect

    return Store(connect(project.settings.db, base_dir=project.root))


def open_existing_store(project: Project) -> Store | None:
    """The project's store, or None when its SQLite file does not exist yet (reading never creates it)."""
    from sqlalchemy.engine import make_url

    url = make_url(project.settings.db)
    is_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if is_file and not project.path(str(url.database)).exists():
        return None
    return open_store(project)


def load_executor(name: str, *, parallelism: int | None = None) -> Executor:
    """Build the executor registered as ``name`` (DefinitionError with an install hint if none)."""
    from headwater.plugin.manager import Kind, get_manager

    cls = get_manager().resolve_class(Kind.EXECUTOR, name, Executor)  # type: ignore[type-abstract]
    return cls(parallelism=parallelism)


def queue_run(
    project: Project,
    pipeline: Pipeline,
    store: Store,
    *,
    params: Mapping[str, object] | None = None,
    logical_date: datetime | None = None,
    partition_key: str | None = None,
) -> RunRecord:
    """Create a manual run for the scheduler to start (nobody holds its lease yet)."""
    from headwater.executors.inline import InlineExecutor

    engine = RunEngine(pipeline, store, InlineExecutor(), pools=project.settings.pools)
    return engine.create_run(params=params, logical_date=logical_date, leased=False, partition_key=partition_key)


def run_pipeline(
    project: Project,
    pipeline: Pipeline,
    *,
    store: Store | None = None,
    executor: Executor | str | None = None,
    params: Mapping[str, object] | None = None,
    logical_date: datetime | None = None,
    resume_run_id: str | None = None,
    listener: RunListener | None = None,
    clock: Clock | None = None,
    use_cache: bool = True,
    partition_key: str | None = None,
    trigger: str = "manual",
    run_id: str | None = None,
    project_dir: Path | None = None,
) -> RunSummary:
    """Run ``pipeline`` once (or resume ``resume_run_id``) and return the summary.

    ``use_cache=False`` (``--no-cache``) runs cached tasks even when a stored result exists.
    ``project_dir`` (default: the project's root) is where tasks' relative paths start.
    """
    from headwater.engine.alerts import Alerter

    settings = project.settings
    alerter = Alerter.from_settings(settings, background=True)  # an unknown notifier fails here, before any write
    own_store = store is None
    store = store or open_store(project)
    try:
        if resume_run_id is not None:
            from headwater.engine.asset_runs import run_subset

            pipeline = run_subset(pipeline, store, resume_run_id)  # an assets run drives its own assets only
        if isinstance(executor, Executor):
            exe, exe_name = executor, executor.name
        else:
            exe_name = executor or settings.executor
            exe = load_executor(exe_name, parallelism=settings.concurrency)
        engine = RunEngine(
            pipeline,
            store,
            exe,
            executor_name=exe_name,
            pools=settings.pools,
            concurrency=settings.concurrency,
            clock=clock,
            listener=listener,
            logs_dir=project.path(settings.logs),
            results_url=project.results_url,
            project_dir=str(project_dir or project.root),
            alerter=alerter,
            durations=store.typical_durations(pipeline.id),
            priority_policy=settings.scheduler.priority,
            heartbeat_timeout=settings.scheduler.heartbeat_timeout,
            lease_ttl=settings.scheduler.lease_ttl,
            use_cache=use_cache,
        )
        if resume_run_id is not None:
            record = store.get_run(resume_run_id)
            if record is None:
                raise UsageError(f"no run {resume_run_id!r} in {project.settings.db}")
            if record.pipeline_id != pipeline.id:
                raise UsageError(
                    f"run {resume_run_id!r} belongs to pipeline '{record.pipeline_id}', not '{pipeline.id}'"
                )
            if params:
                raise UsageError("a resumed run keeps its params; -p cannot change them")
            return engine.run(record, resumed=True)
        record = engine.create_run(
            params=params, logical_date=logical_date, partition_key=partition_key, trigger=trigger, run_id=run_id
        )
        return engine.run(record)
    finally:
        alerter.close()
        if own_store:
            store.close()
