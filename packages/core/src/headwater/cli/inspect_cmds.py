"""``headwater list | show | graph | history``: what is defined and what happened."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from headwater.cli.common import EXIT_USAGE, existing_store, load_project_from, reports_errors
from headwater.errors import UsageError
from headwater.model.durations import format_duration

if TYPE_CHECKING:
    from headwater.model.pipeline import Pipeline
    from headwater.store.events import EventRecord
    from headwater.store.records import TaskInstanceRecord

DEFAULT_ESTIMATE = 1.0


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


@click.command("list")
@click.pass_context
@reports_errors
def list_(ctx: click.Context) -> None:
    """List the project's pipelines (files that fail to load are reported; exit 2 if any)."""
    from headwater.loader.project import scan

    project = load_project_from(ctx)
    result = scan(project)
    rows = [
        [e.id, str(e.tasks), e.schedule or "-", ",".join(e.tags) or "-", e.description or ""]
        for e in sorted(result.pipelines.values(), key=lambda e: e.id)
    ]
    if rows:
        click.echo(_table(rows, ["pipeline", "tasks", "schedule", "tags", "description"]))
    else:
        click.echo(f"no pipelines in {project.pipelines_dir}")
    for error in result.errors:
        click.echo(f"error: {error}", err=True)
    if result.errors:
        sys.exit(EXIT_USAGE)


@click.command()
@click.argument("pipeline_id")
@click.pass_context
@reports_errors
def show(ctx: click.Context, pipeline_id: str) -> None:
    """Show a pipeline's settings and tasks (operator, options, upstream tasks)."""
    from headwater.engine.admission import pool_sizes
    from headwater.engine.scheduler import starvation_warnings
    from headwater.loader.project import find_pipeline

    project = load_project_from(ctx)
    pipeline = find_pipeline(project, pipeline_id)  # an unknown connection or asset: exit 2 before printing
    click.echo(f"pipeline    {pipeline.id}")
    click.echo(f"file        {pipeline.file}")
    if pipeline.description:
        click.echo(f"description {pipeline.description}")
    if pipeline.triggers:
        from headwater.model.triggers import describe_triggers

        click.echo(f"schedule    on events: {describe_triggers(pipeline.triggers, debounce=True)}")
    else:
        click.echo(f"schedule    {pipeline.schedule or 'manual'} ({pipeline.timezone})")
    for label, value in (
        ("start_date", pipeline.start_date),
        ("end_date", pipeline.end_date),
        ("timeout", None if pipeline.timeout is None else format_duration(pipeline.timeout)),
    ):
        if value is not None:
            click.echo(f"{label:<11} {value}")
    click.echo(f"catchup     {pipeline.catchup}   max_active_runs {pipeline.max_active_runs}")
    for line in schedule_preview(pipeline, datetime.now(UTC)):
        click.echo(line)
    if pipeline.tags:
        click.echo(f"tags        {', '.join(pipeline.tags)}")
    if pipeline.params:
        click.echo(f"params      {', '.join(f'{k}={v!r}' for k, v in pipeline.params.items())}")
    rows = []
    for op in pipeline:
        o = op.options
        rows.append(
            [
                op.task_id,
                op.describe()[:50],
                str(o.retry.retries),
                format_duration(o.timeout) if o.timeout else "-",
                o.pool or "-",
                str(o.priority),
                o.trigger_rule.value,
                ", ".join(sorted(pipeline.upstream[op.task_id])) or "-",
            ]
        )
    click.echo("")
    click.echo(_table(rows, ["task", "operator", "retries", "timeout", "pool", "prio", "trigger", "upstream"]))
    for warning in starvation_warnings(pipeline, pool_sizes(project.settings.pools)):
        click.echo(f"warning: {warning}", err=True)


def _local(moment: datetime, seconds: bool) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def schedule_preview(pipeline: Pipeline, now: datetime, n: int = 5) -> list[str]:
    """``show``'s lines on when the pipeline runs: its deadline and its next ``n`` runs after ``now``."""
    from headwater.model.timetable import Timetable

    timetable = Timetable.for_pipeline(pipeline)
    lines = []
    if timetable is None:
        if pipeline.triggers:
            lines.append("runs        when a trigger fires: one run per burst of events (see headwater history)")
        else:
            lines.append("runs        only when triggered (no schedule)")
        if pipeline.deadline is not None:
            lines.append(f"deadline    {pipeline.deadline.describe(scheduled=False)}")
        return lines
    if pipeline.deadline is not None:
        lines.append(f"deadline    {pipeline.deadline.describe()}")
    upcoming = timetable.preview(now, n)
    if not upcoming:
        why = f": end_date {pipeline.end_date.isoformat()} has passed" if pipeline.end_date else ""
        lines.append(f"next runs   none{why}")
        return lines
    seconds = any(t.second for i in upcoming for t in (i.start, i.end))
    utc_format = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    header = ["start (logical date)", "end (due)", "in UTC"]
    rows = []
    for interval in upcoming:
        utc = f"{interval.start.astimezone(UTC):{utc_format}} -> {interval.end.astimezone(UTC):{utc_format}}"
        row = [_local(interval.start, seconds), _local(interval.end, seconds), utc]
        if pipeline.deadline is not None:
            row.append(_local(pipeline.deadline.due_at(interval.end), seconds))
        rows.append(row)
    if pipeline.deadline is not None:
        header.append("finish by")
    lines.append(
        f"next runs   times in {pipeline.timezone}; a run covers [start, end), its logical date is start, "
        "it is due at end"
    )
    lines += ["  " + line for line in _table(rows, header).splitlines()]
    return lines


@click.command()
@click.argument("pipeline_id")
@click.pass_context
@reports_errors
def graph(ctx: click.Context, pipeline_id: str) -> None:
    """Draw the task graph by layers, marking the critical path (by typical or estimated durations)."""
    from headwater.engine.launch import open_existing_store
    from headwater.loader.project import find_pipeline
    from headwater.model.graph import critical_path

    project = load_project_from(ctx)
    pipeline = find_pipeline(project, pipeline_id)
    durations: dict[str, float] = {}
    store = open_existing_store(project)
    if store is not None:
        try:
            durations = store.typical_durations(pipeline.id)
        finally:
            store.close()
    weight = {t: durations.get(t, DEFAULT_ESTIMATE) for t in pipeline.order}
    path, total = critical_path(pipeline.order, pipeline.upstream, weight)
    on_path = set(path)
    depth: dict[str, int] = {}
    for task_id in pipeline.order:
        depth[task_id] = 1 + max((depth[u] for u in pipeline.upstream[task_id]), default=-1)
    layers: dict[int, list[str]] = {}
    for task_id in pipeline.order:
        layers.setdefault(depth[task_id], []).append(task_id)
    click.echo(f"{pipeline.id}: {len(pipeline.tasks)} tasks in {len(layers)} layers")
    for level in sorted(layers):
        click.echo(f"layer {level}")
        for task_id in layers[level]:
            mark = "*" if task_id in on_path else " "
            source = "" if task_id in durations else " est."
            ups = sorted(pipeline.upstream[task_id])
            arrow = f"  <- {', '.join(ups)}" if ups else ""
            click.echo(f"  {mark} {task_id} [{format_duration(weight[task_id])}{source}]{arrow}")
    basis = "typical durations" if durations else f"estimates of {DEFAULT_ESTIMATE:g}s per task (no history yet)"
    click.echo(f"critical path ({format_duration(total)}, by {basis}): {' -> '.join(path)}")


@click.command()
@click.argument("target")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 10_000), help="How many runs.")
@click.pass_context
@reports_errors
def history(ctx: click.Context, target: str, limit: int) -> None:
    """Past runs of a pipeline, then the task instances of the latest (or of TARGET if it is a run id)."""
    project = load_project_from(ctx)
    store = existing_store(project)
    try:
        from headwater.store.events import events_of_runs

        run = store.get_run(target)
        runs = [run] if run is not None else store.list_runs(target, limit=limit)
        if not runs:
            raise UsageError(f"no runs of '{target}' in {project.settings.db}")
        fired_by = events_of_runs(store, [r.run_id for r in runs if r.trigger == "event"])
        if run is None:
            rows = []
            for r in runs:
                duration = (r.ended_at - r.started_at).total_seconds() if r.ended_at and r.started_at else None
                started = r.started_at.strftime("%Y-%m-%d %H:%M:%S") if r.started_at else "-"
                trigger = _trigger_text(r.trigger, fired_by.get(r.run_id))
                rows.append([r.run_id, r.state, started, format_duration(duration), trigger, r.partition_key or "-"])
            header = ["run", "state", "started (UTC)", "duration", "trigger", "partition"]
            if all(r.partition_key is None for r in runs):
                rows, header = [row[:-1] for row in rows], header[:-1]
            click.echo(_table(rows, header))
            click.echo("")
        latest = runs[0]
        tries = store.tries(latest.run_id)
        instances = {ti.task_id: ti for ti in store.task_instances(latest.run_id)}
    finally:
        store.close()
    events = fired_by.get(latest.run_id)
    if run is not None and events:
        click.echo(f"started by {len(events)} event(s):")
        click.echo(_table([_event_row(e) for e in events], ["event", "kind", "trigger", "received (UTC)", "payload"]))
        click.echo("")
    click.echo(f"tasks of run {latest.run_id} ({latest.state}):")
    rows = []
    by_task: dict[str, list[str]] = {}
    cached: set[str] = set()  # tasks whose last try reused a cached result
    for attempt in tries:
        note = f"#{attempt.try_number} {attempt.state} {format_duration(attempt.duration)}"
        if attempt.error:
            note += f" ({attempt.error.splitlines()[0][:60]})"
        if attempt.note:
            note += f" [{attempt.note[:100]}]"
        cached.discard(attempt.task_id)
        if attempt.note and attempt.note.startswith("cache hit"):
            cached.add(attempt.task_id)
        by_task.setdefault(attempt.task_id, []).append(note)
    from headwater.model.mapped import group_instances

    groups = {node: ids for node, ids in group_instances(instances).items() if node in instances}
    folded = {task_id for ids in groups.values() for task_id in ids}
    for task_id, ti in sorted(instances.items(), key=lambda item: (item[1].started_at or float("inf"), item[0])):
        if task_id in folded:
            continue  # shown on its mapped task's summary line
        detail = "; ".join(by_task.get(task_id, []))
        state = f"{ti.state} (cached)" if task_id in cached and ti.state == "success" else ti.state
        rows.append([task_id, state, str(ti.try_number), format_duration(ti.duration), detail])
        if task_id in groups:
            rows.append(_instances_row(task_id, [instances[i] for i in groups[task_id]], by_task))
    click.echo(_table(rows, ["task", "state", "tries", "duration", "tries detail"]))


def _instances_row(node: str, members: list[TaskInstanceRecord], by_task: dict[str, list[str]]) -> list[str]:
    """One line for every instance of a mapped task: ``fetch[0..4999]  4998 success, 2 failed``."""
    from headwater.cli.display import state_counts
    from headwater.model.mapped import index_range

    failed = [ti for ti in members if ti.state == "failed"]
    parts = [f"{ti.task_id} {by_task[ti.task_id][-1]}" for ti in failed[:3] if by_task.get(ti.task_id)]
    if len(failed) > 3:
        parts.append(f"and {len(failed) - 3} more failed")
    retried = sum(1 for ti in members if ti.try_number > 1)
    if retried:
        parts.append(f"{retried} retried")
    longest = max((ti.duration for ti in members if ti.duration is not None), default=None)
    return [
        "  " + index_range(node, len(members)),
        state_counts(ti.state for ti in members),
        str(sum(ti.try_number for ti in members)),
        format_duration(longest),
        "; ".join(parts),
    ]


def _trigger_text(trigger: str, events: list[EventRecord] | None) -> str:
    """``event: file:landing/*.csv x5`` for runs that events started; the plain trigger otherwise."""
    if not events:
        return trigger
    counts: dict[str, int] = {}
    for event in events:
        counts[event.trigger] = counts.get(event.trigger, 0) + 1
    parts = [f"{name} x{n}" if n > 1 else name for name, n in counts.items()]
    return f"{trigger}: {', '.join(parts)}"


def _event_row(event: EventRecord) -> list[str]:
    import json

    payload = json.dumps(event.payload, separators=(",", ":"), default=str)
    if len(payload) > 60:
        payload = payload[:57] + "..."
    received = event.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return [str(event.event_id), event.kind, event.trigger, received, payload]


COMMANDS = [list_, show, graph, history]
