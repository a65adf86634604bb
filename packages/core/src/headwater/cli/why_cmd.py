"""``headwater why RUN_ID TASK``: one screen on why a task is (not) running."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from headwater.cli.common import existing_store, load_project_from, reports_errors
from headwater.errors import HeadwaterError, UsageError
from headwater.secrets import mask

if TYPE_CHECKING:
    from headwater.config.settings import Project
    from headwater.model.deadline import Deadline
    from headwater.model.pipeline import Pipeline
    from headwater.store.records import RunRecord, TaskInstanceRecord, TryRecord
    from headwater.store.repository import Store

ERROR_EXCERPT = 200
LABEL = 9


def _when(value: float | datetime | None) -> str:
    if value is None:
        return "-"
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    from headwater.model.retry import compact_duration

    return compact_duration(max(seconds, 0.0))


def _ts(value: datetime | None) -> float | None:
    from headwater.store.records import to_timestamp

    return to_timestamp(value)


def _excerpt(text: str) -> str:
    line = mask(text).strip().splitlines()[0] if text.strip() else "-"
    return line if len(line) <= ERROR_EXCERPT else line[: ERROR_EXCERPT - 3] + "..."


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


@dataclass(slots=True)
class Explanation:
    """What ``why`` prints: labelled lines, then the verdict built from the blockers."""

    task_id: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    verdict: str | None = None

    def add(self, label: str, text: str) -> None:
        self.lines.append((label, text))

    def render(self) -> str:
        out = []
        for label, text in self.lines:
            first, *rest = text.split("\n")
            out.append(f"{label:<{LABEL}} {first}".rstrip())
            out += [f"{'':<{LABEL}} {line}" for line in rest]
        if self.verdict is None:
            if self.blockers:
                self.verdict = f"{self.task_id} is not running: waiting for " + "; ".join(self.blockers)
            else:
                self.verdict = f"{self.task_id} is ready: it starts as soon as the process driving its run has room"
        out.append(f"=> {self.verdict}")
        return "\n".join(out)


def explain(
    store: Store,
    run: RunRecord,
    task_id: str,
    pipeline: Pipeline | None,
    *,
    now: float,
    pool_sizes: dict[str, int],
    load_error: str | None = None,
) -> Explanation:
    """Gather what the store (and the definition, when it loads) says about ``task_id`` in ``run``."""
    instances = {ti.task_id: ti for ti in store.task_instances(run.run_id)}
    ti = instances.get(task_id)
    if ti is None:
        from headwater.model.mapped import group_instances, index_range

        groups = group_instances(instances)  # a mapped task's instances are named together: fetch[0..4999]
        folded = {i for ids in groups.values() for i in ids}
        names = [t for t in instances if t not in folded] + [index_range(n, len(ids)) for n, ids in groups.items()]
        known = ", ".join(sorted(names)) or "none"
        raise UsageError(f"run {run.run_id} (pipeline '{run.pipeline_id}') has no task '{task_id}' (tasks: {known})")
    tries = store.tries(run.run_id, task_id)
    ex = Explanation(task_id)
    ex.add(
        "run",
        f"{run.run_id} (pipeline {run.pipeline_id}, trigger {run.trigger}, logical date {_when(run.logical_date)})",
    )
    if load_error is not None:
        ex.add("note", f"definition not loaded ({load_error}): showing what the database knows")
    _run_state(ex, store, run, pipeline, now)
    _task_state(ex, run, ti, tries, now)
    if ti.state == "scheduled":
        _upstream(ex, pipeline, task_id, instances)
    _pool(ex, store, run, ti, pool_sizes)
    _breaker(ex, store, run, task_id)
    _deadline(ex, store, run, pipeline, now)
    return ex


def _run_state(ex: Explanation, store: Store, run: RunRecord, pipeline: Pipeline | None, now: float) -> None:
    expires = _ts(run.lease_expires_at)
    if run.state == "queued":
        ex.add("state", f"run queued since {_when(run.created_at)}, not started yet")
        from headwater.store.deadlines import running_runs

        active = running_runs(store, run.pipeline_id)
        limit = pipeline.max_active_runs if pipeline is not None else None
        names = ", ".join(f"{r.run_id} (since {_when(r.started_at)})" for r in active[:5])
        names += f", and {len(active) - 5} more" if len(active) > 5 else ""
        if limit is not None and len(active) >= limit:
            ex.add("runs", f"max_active_runs ({limit}) reached: running {names}")
            ex.blockers.append(f"its run to start (max_active_runs {limit} reached)")
        elif limit is None and active:
            ex.add("runs", f"{_plural(len(active), 'run')} of the pipeline running (max_active_runs unknown): {names}")
            ex.blockers.append("its run to start")
        elif run.lease_owner:
            ex.blockers.append(f"its run to start (being started by {run.lease_owner})")
        else:
            ex.blockers.append("its run to start (a scheduler starts it on its next pass: is one running?)")
        return
    if run.state == "running":
        text = f"run running since {_when(run.started_at)}"
        if run.lease_owner is None:
            text += ", driven by no process (a scheduler resumes it, or `headwater run RUN_ID`)"
            ex.blockers.append("a process to resume its run")
        elif expires is not None and expires < now:
            text += f", lease of {run.lease_owner} expired at {_when(expires)}: its driver stopped"
            ex.blockers.append("a scheduler to take its run over (its driver stopped)")
        else:
            text += f", driven by {run.lease_owner} (lease until {_when(expires)})"
        ex.add("state", text)
        return
    ex.add("state", f"run {run.state}, ended {_when(run.ended_at)}")


def _task_state(ex: Explanation, run: RunRecord, ti: TaskInstanceRecord, tries: list[TryRecord], now: float) -> None:
    used = f"{ti.try_number} of {ti.max_tries} tries used"
    last = tries[-1] if tries else None
    state = ti.state
    if state == "running":
        beat = f", last heartbeat {_when(last.heartbeat_at)}" if last and last.heartbeat_at else ""
        start = last.started_at if last and last.started_at else ti.started_at
        ex.add("task", f"{ex.task_id}: running since {_when(start)} (try {ti.try_number} of {ti.max_tries}{beat})")
        ex.verdict = f"{ex.task_id} is running (try {ti.try_number} of {ti.max_tries})"
    elif state == "queued":
        ex.add("task", f"{ex.task_id}: queued at {_when(last.queued_at if last else None)} (try {ti.try_number})")
        ex.blockers.append("a worker of the executor to start it (it is queued)")
    elif state in ("up_for_retry", "up_for_reschedule"):
        ex.add("task", f"{ex.task_id}: {state}, {used}")
        due = ti.next_try_at
        if state == "up_for_retry":
            what = f"try {ti.try_number} failed; try {ti.try_number + 1} of {ti.max_tries}"
        else:
            what = "the sensor found nothing yet; its next poke"
        if due is None:
            when = "is due once the run is driven again"
        elif due > now:
            when = f"starts at {_when(due)}, in {_span(due - now)}"
        else:
            when = f"was due at {_when(due)}: it starts when the process driving the run gets to it"
        ex.add("retry" if state == "up_for_retry" else "poke", f"{what} {when}")
        ex.blockers.append(
            f"its retry delay (next try in {_span(due - now)})" if due is not None and due > now else "its next try"
        )
    elif state == "scheduled":
        ex.add("task", f"{ex.task_id}: scheduled, {used}")
        if run.state in ("success", "failed"):
            ex.verdict = f"{ex.task_id} did not run: its run ended ({run.state}) first"
    else:
        ended = f" at {_when(ti.ended_at)}" if ti.ended_at else ""
        ex.add("task", f"{ex.task_id}: {state}{ended}, {used}")
        outcome = {
            "success": "it succeeded",
            "failed": "it failed and has no tries left",
            "skipped": "it was skipped",
            "upstream_failed": "an upstream task failed (upstream_failed)",
        }.get(state, f"it is {state}")
        ex.verdict = f"{ex.task_id} is not running: {outcome}"
    error_try = next((tr for tr in reversed(tries) if tr.error), None)
    if error_try is not None and error_try.error:
        ex.add("error", f"try {error_try.try_number}: {_excerpt(error_try.error)}")


def _upstream(
    ex: Explanation, pipeline: Pipeline | None, task_id: str, instances: dict[str, TaskInstanceRecord]
) -> None:
    from headwater.model.mapped import MappedOperator, parse_instance_id
    from headwater.model.trigger_rules import Decision, UpstreamCounts, decide

    parsed = parse_instance_id(task_id)
    node = pipeline.tasks.get(parsed[0]) if pipeline is not None and parsed is not None else None
    if parsed is not None and isinstance(node, MappedOperator):
        node_state = instances[parsed[0]].state if parsed[0] in instances else "scheduled"
        text = f"item {parsed[1]} of mapped task '{parsed[0]}' ({node_state}): it starts when that task runs"
        if node.max_parallel is not None:
            text += f", at most {node.max_parallel} of its instances at once (max_parallel)"
        ex.add("upstream", text)
        if node_state == "running" and node.max_parallel is not None:
            ex.blockers.append(f"a free place among the {node.max_parallel} running instances of {parsed[0]}")
        elif node_state != "running":
            ex.blockers.append(f"its mapped task {parsed[0]} ({node_state})")
        return
    if pipeline is None or task_id not in pipeline.tasks:
        if pipeline is not None:
            ex.add("upstream", "unknown: the current definition no longer has this task")
        else:
            ex.add("upstream", "unknown (the definition did not load)")
        return
    rule = pipeline.tasks[task_id].options.trigger_rule
    ups = [u for u in pipeline.order if u in pipeline.upstream[task_id]]
    if not ups:
        ex.add("upstream", "none")
        return
    states = {u: instances[u].state if u in instances else "scheduled" for u in ups}
    counts = UpstreamCounts(total=len(ups))
    for state in states.values():
        if state == "success":
            counts.success += 1
        elif state in ("failed", "upstream_failed"):
            counts.failed += 1
        elif state == "skipped":
            counts.skipped += 1
    decision = decide(rule, counts)
    listed = ", ".join(f"{u} ({states[u]})" for u in ups)
    pending = [u for u in ups if states[u] not in ("success", "failed", "upstream_failed", "skipped")]
    waiting = ", ".join(f"{u} ({states[u]})" for u in pending)
    if decision is Decision.WAIT:
        if rule.value == "one_success":
            text = f"one_success: waiting for one of {waiting} to succeed"
        elif rule.value == "one_failed":
            text = f"one_failed: waiting for one of {waiting} to fail (or all to finish)"
        else:
            text = f"{rule.value}: waiting for {waiting}"
        ex.add("upstream", text)
        ex.blockers.append(f"upstream {', '.join(pending)} ({rule.value})")
    elif decision is Decision.RUN:
        ex.add("upstream", f"{rule.value}: satisfied ({listed})")
    else:
        ex.add("upstream", f"{rule.value}: not satisfied ({listed}): it will be marked {decision.value}")


def _pool(ex: Explanation, store: Store, run: RunRecord, ti: TaskInstanceRecord, pool_sizes: dict[str, int]) -> None:
    if ti.pool is None or ti.state not in ("scheduled", "queued", "running"):
        return
    from headwater.store.pools import holders

    held = holders(store, ti.pool)
    size = pool_sizes.get(ti.pool)
    used = sum(h.slots for h in held)
    mine = any(h.run_id == run.run_id and h.task_id == ti.task_id for h in held)
    size_text = "size unknown" if size is None else f"{used} of {size} slots held"
    full = size is not None and used >= size
    head = f"{ti.pool}: {'full, ' if full else ''}{size_text}"
    if mine:
        head += f" (this task holds {_plural(sum(h.slots for h in held if h.task_id == ti.task_id), 'slot')})"
    lines = [head + (":" if held else "")]
    for h in held[:10]:
        lines.append(
            f"  {h.run_id} / {h.task_id} try {h.try_number}: {_plural(h.slots, 'slot')}, {h.lane} lane,"
            f" owner {h.owner}, since {_when(h.acquired_at)}"
        )
    if len(held) > 10:
        lines.append(f"  and {len(held) - 10} more")
    ex.add("pool", "\n".join(lines))
    if full and not mine and ti.state == "scheduled":
        ex.blockers.append(f"a slot of pool {ti.pool} (full: {used} of {size} held)")


def _breaker(ex: Explanation, store: Store, run: RunRecord, task_id: str) -> None:
    from sqlalchemy import select

    from headwater.store import tables as t

    b = t.circuit_breakers.c
    query = select(b.state, b.consecutive_failures, b.opened_at, b.last_error).where(
        b.pipeline_id == run.pipeline_id, b.task_id == task_id
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return
    state, failures, opened_at, error = row
    if state == "open":
        text = f"open since {_when(opened_at)} after {_plural(failures, 'consecutive failed run')}"
        if error:
            text += f" (last error: {_excerpt(error)})"
        ex.add("breaker", text + f"\nclose it with `headwater reset {run.pipeline_id} {task_id}`")
        ex.blockers.append("its circuit breaker to be closed (`headwater reset`)")
    elif failures:
        ex.add("breaker", f"closed, {_plural(failures, 'consecutive failed run')} so far")


def _deadline(ex: Explanation, store: Store, run: RunRecord, pipeline: Pipeline | None, now: float) -> None:
    from headwater.store.deadlines import for_run

    rows = for_run(store, run.run_id)
    due = None
    if pipeline is not None and pipeline.deadline is not None:
        from headwater.engine.deadlines import deadline_of

        due = deadline_of(pipeline, run)
    if due is None and not rows:
        return
    lines = []
    if due is not None:
        assert pipeline is not None and pipeline.deadline is not None
        head = f"{_when(due)} ({_rule(pipeline.deadline, run)})"
        ended = _ts(run.ended_at)
        if run.state == "success" and ended is not None:
            head += ": met" if ended <= due.timestamp() else f": missed, the run ended {_when(ended)}"
        elif run.state == "failed":
            head += ": not met (the run failed)"
        elif due.timestamp() > now:
            head += f": in {_span(due.timestamp() - now)}"
        else:
            head += ": passed"
        lines.append(head)
    else:
        lines.append(f"{_when(rows[0].deadline_at)}")
    finished = run.state in ("success", "failed")
    for miss in rows:
        late = f"{miss.minutes_late:.1f} min"
        if miss.kind == "predicted":
            text = f"predicted to miss it by {late} (at {_when(miss.detected_at)}"
            if miss.expected_end_at is not None:
                text += f"; expected end {_when(miss.expected_end_at)}"
        else:
            text = f"missed by {late} (detected {_when(miss.detected_at)}"
            if miss.expected_end_at is not None:
                verb = "ended" if finished and run.state == "success" else "expected end"
                text += f"; {verb} {_when(miss.expected_end_at)}"
        if miss.critical_path:
            text += f"; critical path {' > '.join(miss.critical_path)}"
        lines.append(text + ")")
    ex.add("deadline", "\n".join(lines))


def _rule(deadline: Deadline, run: RunRecord) -> str:
    """The deadline as it applies to ``run``: ``08:00 Europe/Berlin, first after the interval's end``."""
    basis = "the interval's end" if run.trigger == "schedule" else "the run's creation"
    if deadline.after is not None:
        return f"{_span(deadline.after.total_seconds())} after {basis}"
    assert deadline.time_of_day is not None
    clock = deadline.time_of_day.strftime("%H:%M:%S" if deadline.time_of_day.second else "%H:%M")
    return f"{clock} {deadline.tz}, first after {basis}"


def _load_definition(project: Project, run: RunRecord) -> tuple[Pipeline | None, str | None]:
    from headwater.loader.files import load_pipeline
    from headwater.loader.project import find_pipeline

    try:
        if run.pipeline_file:
            return load_pipeline(run.pipeline_file, run.pipeline_id), None
        return find_pipeline(project, run.pipeline_id), None
    except HeadwaterError as exc:
        return None, str(exc).splitlines()[0]
    except Exception as exc:  # user code that fails to import in an unexpected way
        return None, f"{type(exc).__name__}: {exc}"


def _pool_sizes(project: Project, store: Store) -> dict[str, int]:
    """Pool sizes from the configuration, else as the schedulers last recorded them."""
    from sqlalchemy import select

    from headwater.engine.admission import pool_sizes
    from headwater.store import tables as t

    with store.engine.connect() as conn:
        sizes = {name: int(slots) for name, slots in conn.execute(select(t.pools.c.name, t.pools.c.slots))}
    sizes.update(pool_sizes(project.settings.pools))
    return sizes


@click.command()
@click.argument("run_id")
@click.argument("task_id", metavar="TASK")
@click.pass_context
@reports_errors
def why(ctx: click.Context, run_id: str, task_id: str) -> None:
    """Explain why TASK of run RUN_ID is (not) running: upstream, pool, retry, breaker, run limits, deadline."""
    project = load_project_from(ctx)
    store = existing_store(project)
    try:
        run = store.get_run(run_id)
        if run is None:
            raise UsageError(f"no run {run_id!r} in {mask(project.settings.db)} (see `headwater history PIPELINE`)")
        pipeline, load_error = _load_definition(project, run)
        explanation = explain(
            store,
            run,
            task_id,
            pipeline,
            now=time.time(),
            pool_sizes=_pool_sizes(project, store),
            load_error=load_error,
        )
    finally:
        store.close()
    click.echo(explanation.render())


COMMANDS = [why]
