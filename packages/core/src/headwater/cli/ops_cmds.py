"""``headwater reset``: close circuit breakers that a task's repeated failures opened."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from headwater.cli.common import load_project_from, reports_errors
from headwater.cli.inspect_cmds import _table
from headwater.errors import UsageError
from headwater.secrets import mask

if TYPE_CHECKING:
    from headwater.config.settings import Project
    from headwater.store.breakers import BreakerInfo


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _first_line(text: str | None, limit: int = 80) -> str:
    line = mask(text).strip().splitlines()[0] if text and text.strip() else "-"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _check_target(project: Project, pipeline_id: str, task_id: str | None, recorded: list[BreakerInfo]) -> None:
    """Exit 2 for a pipeline (or task) that neither the project nor the breaker table knows."""
    from headwater.loader.project import find_pipeline, scan

    if task_id is not None and any(b.task_id == task_id for b in recorded):
        return
    if task_id is None and recorded:
        return
    result = scan(project)
    if pipeline_id not in result.pipelines:
        if recorded:  # the pipeline is gone from the project, but some of its tasks have breakers
            known = ", ".join(b.task_id for b in recorded)
            raise UsageError(f"no circuit breaker recorded for task '{task_id}' of '{pipeline_id}' (recorded: {known})")
        known = ", ".join(sorted(result.pipelines)) or "none"
        raise UsageError(
            f"no pipeline '{pipeline_id}' in {project.pipelines_dir} and no circuit breaker recorded for it"
            f" (known pipelines: {known})"
        )
    if task_id is not None:
        pipeline = find_pipeline(project, pipeline_id)
        if task_id not in pipeline.tasks:
            known = ", ".join(sorted(pipeline.tasks))
            raise UsageError(f"pipeline '{pipeline_id}' has no task '{task_id}' (tasks: {known})")


@click.command()
@click.argument("pipeline_id", required=False, metavar="PIPELINE")
@click.argument("task_id", required=False, metavar="[TASK]")
@click.option("--list", "list_only", is_flag=True, help="Only show the breakers (of PIPELINE, or of every pipeline).")
@click.pass_context
@reports_errors
def reset(ctx: click.Context, pipeline_id: str | None, task_id: str | None, list_only: bool) -> None:
    """Close the open circuit breakers of PIPELINE (or only TASK's) and zero their failure counts."""
    from headwater.engine.launch import open_existing_store
    from headwater.store import breakers

    if pipeline_id is None and not list_only:
        raise UsageError("reset needs a PIPELINE (or --list to show every circuit breaker)")
    project = load_project_from(ctx)
    store = open_existing_store(project)
    try:
        recorded = [] if store is None else breakers.list_breakers(store, pipeline_id)
        if pipeline_id is not None:
            _check_target(project, pipeline_id, task_id, recorded)
        if task_id is not None:
            recorded = [b for b in recorded if b.task_id == task_id]
        target = pipeline_id if task_id is None else f"{pipeline_id}/{task_id}"
        if list_only:
            if not recorded:
                click.echo(f"no circuit breakers recorded{f' for {target}' if target else ''}")
                return
            rows = [
                [
                    b.pipeline_id,
                    b.task_id,
                    b.state.upper() if b.is_open else b.state,
                    str(b.consecutive_failures),
                    _when(b.opened_at),
                    b.last_run_id or "-",
                    _first_line(b.last_error),
                ]
                for b in recorded
            ]
            click.echo(_table(rows, ["pipeline", "task", "state", "failures", "opened", "last failed run", "error"]))
            return
        assert pipeline_id is not None
        closed = [] if store is None else breakers.reset(store, pipeline_id, task_id)
    finally:
        if store is not None:
            store.close()
    if not closed:
        click.echo(f"nothing to reset: no open circuit breaker for {target}")
        return
    for b in closed:
        click.echo(
            f"closed the circuit breaker of {b.pipeline_id}/{b.task_id}"
            f" (open since {_when(b.opened_at)} after {b.consecutive_failures} consecutive failed runs;"
            f" last error: {_first_line(b.last_error)})"
        )


COMMANDS = [reset]
