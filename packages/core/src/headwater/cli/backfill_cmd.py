"""``headwater backfill``: run a pipeline's schedule over a past range, resumably, in the backfill lane."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

import click

from headwater.cli.common import EXIT_OK, EXIT_RUN_FAILED, load_project_from, reports_errors
from headwater.errors import UsageError
from headwater.model.durations import format_duration

if TYPE_CHECKING:
    from rich.console import RenderableType

    from headwater.config.settings import Project
    from headwater.engine.backfill import BackfillOutcome, BackfillPlan
    from headwater.engine.listener import RunSummary
    from headwater.loader.assets import AssetGraph
    from headwater.model.pipeline import Pipeline
    from headwater.store.backfills import BackfillRecord
    from headwater.store.records import RunRecord
    from headwater.store.repository import Store

EXIT_INTERRUPTED = 130
#: A dry run lists every interval up to this many; more are shown as the first and last few.
LIST_ALL = 12
LIST_ENDS = 3


def _parse_bound(value: str, option: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r}: expected a date like 2026-03-01 or 2026-03-01T06:00") from None


def _when(moment: datetime, pipeline: Pipeline) -> str:
    from headwater.engine.backfill import format_moment

    return format_moment(moment, pipeline)


# -- progress -------------------------------------------------------------------------------------


class _Counts:
    """What the displays share: runs done, failed, running."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.total = 0
        self.success = 0
        self.failed = 0
        self.running: dict[str, datetime] = {}
        self.start = time.monotonic()

    @property
    def done(self) -> int:
        return self.success + self.failed

    def begin(self, states: Mapping[str, int]) -> None:
        self.total = sum(states.values())
        self.success = states.get("success", 0)
        self.failed = states.get("failed", 0)

    def finish(self, run: RunRecord, summary: RunSummary) -> bool:
        """Count a run that stopped; False if it did not end (handed back on a stop, it resumes later)."""
        self.running.pop(run.run_id, None)
        if summary.state == "success":
            self.success += 1
        elif summary.state == "failed":
            self.failed += 1
        else:
            return False
        return True


def _failure(summary: RunSummary) -> str:
    for task in summary.tasks:
        if task.state == "failed":
            error = (task.error or "").strip().splitlines()
            return f"{task.task_id}: {error[0][:160]}" if error else task.task_id
    return summary.state


def _title(backfill: BackfillRecord, resumed: bool) -> str:
    verb = "resuming backfill" if resumed else "backfill"
    return f"{verb} {backfill.backfill_id} of {backfill.pipeline_id}"


class PlainBackfillProgress:
    """One line per finished run (for logs, CI, pipes)."""

    def __init__(self, pipeline: Pipeline, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.counts = _Counts(pipeline)

    def started(self, backfill: BackfillRecord, states: Mapping[str, int], resumed: bool) -> None:
        self.counts.begin(states)
        c = self.counts
        left = c.total - c.done
        already = f", {c.done} done before" if c.done else ""
        self.out.write(
            f"{_title(backfill, resumed)}: {left} of {c.total} run(s) to go{already}, "
            f"{backfill.parallelism} at a time, {backfill.strategy}\n"
        )
        self.out.flush()

    def run_started(self, run: RunRecord) -> None:
        self.counts.running[run.run_id] = run.logical_date

    def run_finished(self, run: RunRecord, summary: RunSummary) -> None:
        c = self.counts
        elapsed = time.monotonic() - c.start
        if not c.finish(run, summary):
            self.out.write(f"[{elapsed:7.2f}s] handed back {_when(run.logical_date, c.pipeline)} (it resumes later)\n")
            self.out.flush()
            return
        line = (
            f"[{elapsed:7.2f}s] {c.done:>{len(str(c.total))}}/{c.total} {summary.state:<7} "
            f"{_when(run.logical_date, c.pipeline)}  {format_duration(summary.duration)}"
        )
        if not summary.ok:
            line += f"  {_failure(summary)}"
        self.out.write(line + "\n")
        self.out.flush()

    def finished(self, outcome: BackfillOutcome) -> None:
        self.out.flush()


class LiveBackfillProgress:
    """A rich live view: a progress bar over the runs, counts, what is running, the last failures."""

    def __init__(self, pipeline: Pipeline) -> None:
        from rich.console import Console
        from rich.live import Live

        self.counts = _Counts(pipeline)
        self.console = Console()
        self.title = ""
        self.failures: list[str] = []
        self.live = Live(console=self.console, refresh_per_second=4, transient=True, get_renderable=self._render)

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.text import Text

        c = self.counts
        elapsed = time.monotonic() - c.start
        parts: list[RenderableType] = [
            Text(f"{self.title}  {c.done}/{c.total} runs  {format_duration(elapsed)}", style="bold"),
            ProgressBar(total=c.total or 1, completed=c.done, width=60),
            Text(f"success {c.success}  failed {c.failed}  running {len(c.running)}"),
        ]
        running = sorted(c.running.values())[:8]
        if running:
            parts.append(Text("running: " + ", ".join(_when(d, c.pipeline) for d in running), style="cyan"))
        for line in self.failures[-5:]:
            parts.append(Text(line, style="red"))
        return Group(*parts)

    def started(self, backfill: BackfillRecord, states: Mapping[str, int], resumed: bool) -> None:
        self.counts.begin(states)
        self.title = _title(backfill, resumed)
        self.live.start()

    def run_started(self, run: RunRecord) -> None:
        self.counts.running[run.run_id] = run.logical_date

    def run_finished(self, run: RunRecord, summary: RunSummary) -> None:
        if self.counts.finish(run, summary) and not summary.ok:
            self.failures.append(f"failed {_when(run.logical_date, self.counts.pipeline)}: {_failure(summary)}")

    def finished(self, outcome: BackfillOutcome) -> None:
        self.live.stop()


def print_outcome(outcome: BackfillOutcome, pipeline: Pipeline, out: TextIO | None = None) -> None:
    """The summary: total, completed, failed, skipped, duration, and the failed runs."""
    out = out or sys.stdout
    b = outcome.backfill
    verdict = "interrupted after" if not outcome.finished else "succeeded in" if outcome.ok else "FAILED in"
    out.write(f"backfill {b.backfill_id} of {b.pipeline_id} {verdict} {format_duration(outcome.duration)}\n")
    out.write(
        f"  total      {b.total} interval(s), {_when(b.range_start, pipeline)} .. {_when(b.range_end, pipeline)}\n"
    )
    out.write(f"  completed  {outcome.completed}\n")
    out.write(f"  failed     {outcome.failed}\n")
    out.write(f"  skipped    {outcome.skipped}{' (already succeeded)' if outcome.skipped else ''}\n")
    if not outcome.finished:
        left = outcome.runs - outcome.completed - outcome.failed
        out.write(f"  left       {left}: run the same command again to resume\n")
    if outcome.failed_runs:
        out.write("failed runs (see `headwater history RUN_ID`):\n")
        for run in outcome.failed_runs[:20]:
            out.write(f"  {run.run_id}  {_when(run.logical_date, pipeline)}\n")
        if len(outcome.failed_runs) > 20:
            out.write(f"  ... and {len(outcome.failed_runs) - 20} more\n")


# -- dry run --------------------------------------------------------------------------------------


def _interval_lines(plan: BackfillPlan) -> list[str]:
    pipeline = plan.pipeline
    existing = {i.start for i in plan.existing}

    def line(i: int) -> str:
        interval = plan.intervals[i]
        mark = "  (succeeded before)" if interval.start in existing else ""
        return f"    {_when(interval.start, pipeline)} -> {_when(interval.end, pipeline)}{mark}"

    n = len(plan.intervals)
    if n <= LIST_ALL:
        return [line(i) for i in range(n)]
    return [
        *(line(i) for i in range(LIST_ENDS)),
        f"    ... {n - 2 * LIST_ENDS} more ...",
        *(line(i) for i in range(n - LIST_ENDS, n)),
    ]


def _dates(intervals: list[datetime], pipeline: Pipeline, limit: int = 5) -> str:
    shown = ", ".join(_when(d, pipeline) for d in intervals[:limit])
    return shown + (f" and {len(intervals) - limit} more" if len(intervals) > limit else "")


def print_plan(
    plan: BackfillPlan,
    durations: Mapping[str, float],
    open_backfill: tuple[BackfillRecord, Mapping[str, int]] | None,
    out: TextIO | None = None,
) -> None:
    """What a backfill would do, without doing it."""
    from headwater.engine.backfill import DEFAULT_TASK_ESTIMATE

    out = out or sys.stdout
    p = plan.pipeline
    n = len(plan.intervals)
    out.write(f"dry run: nothing is written\nbackfill of {p.id}, schedule {p.schedule!r} in {p.timezone}\n")
    out.write(f"  intervals  {n} starting from {_when(plan.start, p)} to {_when(plan.end, p)}\n")
    for text in _interval_lines(plan):
        out.write(text + "\n")
    order = {"oldest-first": "oldest first", "newest-first": "newest first", "random": "random order"}[plan.strategy]
    runs = len(plan.to_run)
    out.write(f"  runs       {runs}, {order}, {plan.parallelism} at a time\n")
    out.write(f"  tasks      {len(p.tasks)}: {', '.join(p.order)}\n")
    est = plan.estimate(durations)
    if not durations:
        basis = f"no history: estimates assume {DEFAULT_TASK_ESTIMATE:g} s per task"
    elif est.missing:
        basis = f"typical durations; {DEFAULT_TASK_ESTIMATE:g} s for tasks without history: {', '.join(est.missing)}"
    else:
        basis = "typical durations of the last successful tries"
    out.write(f"  per run    ~{format_duration(est.per_run)} (critical path {' -> '.join(est.critical_path)})\n")
    out.write(
        f"  estimate   ~{format_duration(est.total)} ({est.waves} wave(s) of up to {plan.parallelism} run(s)"
        f" x {format_duration(est.per_run)}; {basis})\n"
    )
    existing = [i.start for i in plan.existing]
    if plan.skip_existing:
        if existing:
            out.write(f"  skipping   {len(existing)} interval(s) that already succeeded: {_dates(existing, p)}\n")
        else:
            out.write("  skipping   nothing: no interval of the range has succeeded yet\n")
    elif existing:
        out.write(
            f"  --skip-existing would skip {len(existing)} interval(s) that already succeeded: {_dates(existing, p)}\n"
        )
    else:
        out.write("  --skip-existing would skip nothing: no interval of the range has succeeded yet\n")
    if open_backfill is not None:
        record, states = open_backfill
        done = states.get("success", 0) + states.get("failed", 0)
        out.write(
            f"an unfinished backfill {record.backfill_id} of this range exists ({done} of {sum(states.values())} "
            "run(s) done): without --dry-run it is resumed, not planned again\n"
        )


# -- signals --------------------------------------------------------------------------------------


@contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C / SIGTERM: stop after the running tries (resumable); a second Ctrl-C aborts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)
        click.echo(
            "stopping: running tries finish first (Ctrl-C again to abort); run the same command to resume",
            err=True,
        )
        stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# -- the command ----------------------------------------------------------------------------------


def _asset_target(project: Project, target: str, forced: bool) -> AssetGraph | None:
    """The asset graph when TARGET names an asset (``--asset``, or no pipeline has that id), else None."""
    from headwater.errors import DefinitionError
    from headwater.loader.assets import load_asset_graph
    from headwater.loader.project import looks_like_file, scan

    if forced:
        from headwater.engine.materialize import check_asset_keys

        graph = load_asset_graph(project.pipelines_dir)
        check_asset_keys(graph, [target])
        return graph
    if looks_like_file(target) or target in scan(project).pipelines:
        return None  # a pipeline id wins over an asset key
    try:
        graph = load_asset_graph(project.pipelines_dir)
    except DefinitionError:
        return None  # find_pipeline reports the files that do not load
    return graph if target in graph.assets else None


def _read_history(store: Store | None, pipeline: Pipeline) -> dict[str, float]:
    return {} if store is None else store.typical_durations(pipeline.id)


@click.command()
@click.argument("pipeline_id", metavar="PIPELINE|ASSET")
@click.option("--start", "start", required=True, help="First logical date (YYYY-MM-DD or ISO datetime).")
@click.option("--end", "end", required=True, help="Last logical date, included (YYYY-MM-DD or ISO datetime).")
@click.option(
    "--parallelism",
    type=click.IntRange(min=1),
    default=None,
    help="Runs at once (default 5; a resumed backfill keeps its own unless given).",
)
@click.option(
    "--strategy",
    type=click.Choice(["oldest-first", "newest-first", "random"]),
    default="oldest-first",
    show_default=True,
    help="Order in which the runs start.",
)
@click.option("--skip-existing", is_flag=True, help="Skip intervals that already have a successful run.")
@click.option("--dry-run", is_flag=True, help="Show the plan and the estimate; write nothing.")
@click.option("--executor", help="Executor to use (default: the `executor` setting).")
@click.option("-q", "--quiet", is_flag=True, help="No live progress; only the summary.")
@click.option(
    "--asset",
    "as_asset",
    is_flag=True,
    help="The target is an asset: backfill its partitions from --start to --end (needed only when a pipeline "
    "has the same id).",
)
@click.pass_context
@reports_errors
def backfill(
    ctx: click.Context,
    pipeline_id: str,
    start: str,
    end: str,
    parallelism: int | None,
    strategy: str,
    skip_existing: bool,
    dry_run: bool,
    executor: str | None,
    quiet: bool,
    as_asset: bool,
) -> None:
    """Run every interval of PIPELINE's schedule that starts between --start and --end (both included).

    For an ASSET, materialize every partition from --start to --end (partition keys, both included),
    after the missing upstream partitions they read. A pipeline id wins over an asset key: add --asset.
    Runs go to the backfill lane, so scheduled runs keep their share of capacity and pools.
    Interrupted (Ctrl-C, a crash)? Run the same command again: it resumes.
    """
    from headwater.engine.admission import pool_limits
    from headwater.engine.backfill import (
        DEFAULT_PARALLELISM,
        BackfillRunner,
        check_backfill_pools,
        create_backfill,
        plan_backfill,
        resolve_range,
    )
    from headwater.engine.launch import load_executor, open_existing_store, open_store
    from headwater.engine.run import check_pools
    from headwater.engine.scheduler import SchedulerOptions
    from headwater.loader.project import find_pipeline
    from headwater.plugin.manager import Kind, get_manager
    from headwater.store import backfills

    project = load_project_from(ctx)
    graph = _asset_target(project, pipeline_id, as_asset)
    if graph is not None:
        from headwater.cli.asset_backfill_cmd import backfill_asset

        backfill_asset(
            project,
            graph,
            pipeline_id,
            start=start,
            end=end,
            parallelism=parallelism,
            strategy=strategy,
            skip_existing=skip_existing,
            dry_run=dry_run,
            executor=executor,
            quiet=quiet,
        )
    pipeline = find_pipeline(project, pipeline_id)
    range_start, range_end = resolve_range(pipeline, _parse_bound(start, "--start"), _parse_bound(end, "--end"))
    # Validate everything before the first write: bad input leaves no trace.
    plan = plan_backfill(
        pipeline,
        range_start,
        range_end,
        parallelism=parallelism or DEFAULT_PARALLELISM,
        strategy=strategy,
        skip_existing=skip_existing,
    )
    executor_name = executor or project.settings.executor
    get_manager().registration(Kind.EXECUTOR, executor_name)
    limits = pool_limits(project.settings.pools)
    check_pools(pipeline, {name: limit.slots for name, limit in limits.items()})
    check_backfill_pools(pipeline, limits)

    if dry_run:
        existing_store = open_existing_store(project)
        open_one: tuple[BackfillRecord, Mapping[str, int]] | None = None
        try:
            durations = _read_history(existing_store, pipeline)
            if existing_store is not None:
                plan = plan_backfill(
                    pipeline,
                    range_start,
                    range_end,
                    parallelism=plan.parallelism,
                    strategy=strategy,
                    skip_existing=skip_existing,
                    store=existing_store,
                )
                found = backfills.find_open(existing_store, pipeline.id, plan.start, plan.end)
                if found is not None:
                    open_one = (found, backfills.run_states(existing_store, found.backfill_id))
        finally:
            if existing_store is not None:
                existing_store.close()
        print_plan(plan, durations, open_one)
        sys.exit(EXIT_OK)

    exe = load_executor(executor_name, parallelism=project.settings.concurrency)
    store = open_store(project)
    try:
        record = backfills.find_open(store, pipeline.id, plan.start, plan.end)
        resumed = record is not None
        if record is not None:
            record = resume_open(store, record, parallelism, strategy, skip_existing)
        else:
            plan = plan_backfill(
                pipeline,
                range_start,
                range_end,
                parallelism=plan.parallelism,
                strategy=strategy,
                skip_existing=skip_existing,
                store=store if skip_existing else None,
            )
            if not plan.to_run:
                click.echo(
                    f"nothing to backfill: all {len(plan.intervals)} interval(s) of {pipeline.id} from "
                    f"{_when(plan.start, pipeline)} to {_when(plan.end, pipeline)} already succeeded"
                )
                sys.exit(EXIT_OK)
            record = create_backfill(store, plan, executor_name=executor_name, now=time.time())
        interactive = sys.stdout.isatty() and not quiet
        progress = LiveBackfillProgress(pipeline) if interactive else PlainBackfillProgress(pipeline)
        runner = BackfillRunner(
            project,
            pipeline,
            record,
            store=store,
            executor=exe,
            executor_name=executor_name,
            options=SchedulerOptions.from_settings(project.settings.scheduler),
            progress=None if quiet else progress,
        )
        with _stop_on_signals(runner.stop):
            outcome = runner.run(resumed=resumed)
    finally:
        store.close()
    print_outcome(outcome, pipeline)
    if not outcome.finished:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_OK if outcome.ok else EXIT_RUN_FAILED)


def resume_open(
    store: Store, record: BackfillRecord, parallelism: int | None, strategy: str, skip_existing: bool
) -> BackfillRecord:
    """Resuming an open backfill: a new ``--parallelism`` applies; the order and skips it was created with stay."""
    from headwater.store import backfills

    if parallelism is not None and parallelism != record.parallelism:
        backfills.set_parallelism(store, record.backfill_id, parallelism)
        record = backfills.get(store, record.backfill_id) or record
    if strategy != record.strategy or skip_existing != record.skip_existing:
        click.echo(
            f"note: backfill {record.backfill_id} keeps the order and skips it was created with "
            f"(strategy {record.strategy}, skip-existing {'on' if record.skip_existing else 'off'})",
            err=True,
        )
    return record


COMMANDS = [backfill]
