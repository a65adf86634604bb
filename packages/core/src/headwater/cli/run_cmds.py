"""``headwater run`` and ``headwater test``."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from typing import TYPE_CHECKING

import click

from headwater.cli.common import EXIT_OK, EXIT_RUN_FAILED, load_project_from, reports_errors
from headwater.cli.display import make_progress, print_summary
from headwater.errors import UsageError

if TYPE_CHECKING:
    from headwater.config.settings import Project
    from headwater.model.pipeline import Pipeline
    from headwater.store.records import RunRecord


def parse_params(values: tuple[str, ...]) -> dict[str, object]:
    params: dict[str, object] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-p {item!r}: expected NAME=VALUE")
        params[name.strip()] = value
    return params


def parse_date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date {value!r}: expected a date like 2026-03-01 or 2026-03-01T06:00") from None
    return parsed


def _find_run(project: Project, run_id: str) -> RunRecord | None:
    """The run ``run_id`` if the project's database exists and has it (never creates the database)."""
    from headwater.engine.launch import open_existing_store

    store = open_existing_store(project)
    if store is None:
        return None
    try:
        return store.get_run(run_id)
    finally:
        store.close()


def _show_alerts() -> None:
    """Print alerts on stderr (once: a handler from an earlier call in this process is replaced)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("headwater.cli")
    handler.setFormatter(logging.Formatter("%(message)s"))
    alerts = logging.getLogger("headwater.alerts")
    for old in [h for h in alerts.handlers if h.get_name() == "headwater.cli"]:
        alerts.removeHandler(old)
    alerts.addHandler(handler)
    alerts.setLevel(logging.INFO)
    alerts.propagate = False


@click.command()
@click.argument("target")
@click.option("--date", "date", help="Logical date of the run (YYYY-MM-DD or ISO datetime).")
@click.option("--partition", help="Partition key (for partitioned pipelines).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="Set a param (repeatable).")
@click.option("--executor", help="Executor to use (default: the `executor` setting).")
@click.option("--run-id", help="Resume this run: tasks that succeeded are not run again.")
@click.option(
    "--queue",
    "queue_only",
    is_flag=True,
    help="Only create the run and leave it to `headwater scheduler` (prints the run id).",
)
@click.option(
    "--no-cache",
    "no_cache",
    is_flag=True,
    help="Run tasks with cache=True even if a cached result exists (their new results are still cached).",
)
@click.option("-q", "--quiet", is_flag=True, help="No live progress; only the summary.")
@click.pass_context
@reports_errors
def run(
    ctx: click.Context,
    target: str,
    date: str | None,
    partition: str | None,
    params: tuple[str, ...],
    executor: str | None,
    run_id: str | None,
    queue_only: bool,
    no_cache: bool,
    quiet: bool,
) -> None:
    """Run TARGET (a pipeline file, a pipeline id, or the id of a run to resume) once."""
    from headwater.engine.admission import pool_sizes
    from headwater.engine.launch import open_store, run_pipeline
    from headwater.engine.run import check_pools, resolve_params
    from headwater.loader.files import load_pipeline
    from headwater.loader.project import find_pipeline, looks_like_file
    from headwater.plugin.manager import Kind, get_manager

    project = load_project_from(ctx, target)
    parsed_params = parse_params(params)
    logical_date = parse_date(date)
    executor_name = executor or project.settings.executor
    get_manager().registration(Kind.EXECUTOR, executor_name)
    # Validate everything before the first write: bad input leaves no trace.
    resume = run_id
    if resume is None and not looks_like_file(target):
        try:
            pipeline = find_pipeline(project, target)
        except UsageError:
            record = _find_run(project, target)
            if record is None:
                raise
            resume = record.run_id
            pipeline = load_pipeline(record.pipeline_file, record.pipeline_id)
    else:
        pipeline = find_pipeline(project, target)
    if resume is not None and (logical_date is not None or parsed_params):
        raise UsageError("a resumed run keeps its date and params: drop --date and -p")
    check_pools(pipeline, pool_sizes(project.settings.pools))
    resolve_params(pipeline, parsed_params)
    if partition is not None:
        _check_partition(pipeline, partition, resuming=resume is not None)
    if queue_only:
        if resume is not None:
            raise UsageError("--queue creates a new run; a run to resume is taken over by the scheduler by itself")
        if no_cache:
            raise UsageError("--no-cache applies to a run this command drives; it cannot be combined with --queue")
        from headwater.engine.launch import queue_run

        store = open_store(project)
        try:
            record = queue_run(
                project, pipeline, store, params=parsed_params, logical_date=logical_date, partition_key=partition
            )
        finally:
            store.close()
        click.echo(f"queued run {record.run_id}: `headwater scheduler` will start it")
        return
    _show_alerts()
    store = open_store(project)
    try:
        summary = run_pipeline(
            project,
            pipeline,
            store=store,
            executor=executor_name,
            params=parsed_params,
            logical_date=logical_date,
            resume_run_id=resume,
            listener=make_progress(quiet),
            use_cache=not no_cache,
            partition_key=partition,
        )
    finally:
        store.close()
    print_summary(summary)
    sys.exit(EXIT_OK if summary.ok else EXIT_RUN_FAILED)


@click.command()
@click.argument("target")
@click.option("--date", "date", help="Logical date of the run (YYYY-MM-DD or ISO datetime).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="Set a param (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines; only the summary.")
@click.pass_context
@reports_errors
def test(ctx: click.Context, target: str, date: str | None, params: tuple[str, ...], quiet: bool) -> None:
    """Run TARGET in this process, inline, with nothing persisted (state in memory, logs in a temp dir)."""
    from headwater.loader.project import find_pipeline
    from headwater.testing import run_pipeline

    project = load_project_from(ctx, target)
    pipeline = find_pipeline(project, target)
    _show_alerts()
    result = run_pipeline(
        pipeline,
        params=parse_params(params),
        logical_date=parse_date(date),
        pools=project.settings.pools,
        listener=make_progress(quiet),
        project_dir=project.root,
    )
    print_summary(result.summary)
    sys.exit(EXIT_OK if result.ok else EXIT_RUN_FAILED)


def _check_partition(pipeline: Pipeline, partition: str, *, resuming: bool) -> None:
    """``--partition`` needs a pipeline with partitioned assets and a key in their partition set."""
    from headwater.engine.asset_runs import pipeline_partitions, run_partition_interval

    if resuming:
        raise UsageError("a resumed run keeps its partition: drop --partition")
    if not pipeline_partitions(pipeline):
        raise UsageError(f"--partition: pipeline '{pipeline.id}' has no partitioned assets")
    run_partition_interval(pipeline, partition)  # UsageError naming the partition set if the key is not in it


COMMANDS = [run, test]
