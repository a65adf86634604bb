"""Backfills: run a pipeline's schedule over a past range, in the backfill lane.

A backfill covers every interval of the pipeline's schedule whose start is in
``[start, end]``. It records itself and one run per interval in a single
transaction (runs in lane ``backfill``, ``trigger="backfill"``, deterministic
ids), then an in-process :class:`~headwater.engine.scheduler.Scheduler` drives
them, at most ``parallelism`` at a time, within the backfill lane's task and
pool budgets. The order runs start in (the strategy) is the order of their
``created_at``. An interrupted backfill stays ``running`` in the store; the same
range started again resumes it: finished runs are kept, runs in flight are taken
back by the lease machinery.
"""

from __future__ import annotations

import itertools
import math
import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from headwater.errors import UsageError
from headwater.model.timetable import Interval, Timetable, localize

if TYPE_CHECKING:
    from headwater.config.settings import Project
    from headwater.engine.clock import Clock
    from headwater.engine.listener import RunListener, RunSummary
    from headwater.engine.scheduler import Scheduler, SchedulerOptions
    from headwater.executors.base import Executor
    from headwater.model.pipeline import Pipeline
    from headwater.store.backfills import BackfillRecord
    from headwater.store.pools import PoolLimits
    from headwater.store.records import RunRecord
    from headwater.store.repository import Store

STRATEGIES = ("oldest-first", "newest-first", "random")
DEFAULT_PARALLELISM = 5
#: A backfill larger than this is refused (split the range): every run is created up front.
MAX_INTERVALS = 100_000
#: The duration assumed for a task without history (seconds), as ``headwater graph`` does.
DEFAULT_TASK_ESTIMATE = 1.0


def new_backfill_id() -> str:
    """A short random id (8 hex digits); it also ends the ids of the backfill's runs."""
    return secrets.token_hex(4)


def backfill_run_id(pipeline_id: str, backfill_id: str, logical_date: datetime) -> str:
    """The deterministic id of the backfill's run for the interval starting at ``logical_date``."""
    from headwater.engine.scheduler import scheduled_run_id

    return scheduled_run_id(pipeline_id, logical_date, kind=f"backfill-{backfill_id}")


def resolve_range(pipeline: Pipeline, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``start`` and ``end`` as aware datetimes; naive ones are local time in the pipeline's timezone."""
    tz = pipeline.tz
    return (
        start if start.tzinfo is not None else localize(start, tz),
        end if end.tzinfo is not None else localize(end, tz),
    )


def order_intervals(intervals: Sequence[Interval], strategy: str, seed: str) -> list[Interval]:
    """``intervals`` (oldest first) in the order the strategy starts them; ``random`` is seeded by ``seed``."""
    if strategy == "oldest-first":
        return list(intervals)
    if strategy == "newest-first":
        return list(reversed(intervals))
    if strategy == "random":
        shuffled = list(intervals)
        random.Random(seed).shuffle(shuffled)  # noqa: S311 - an order, not a secret
        return shuffled
    raise UsageError(f"unknown backfill strategy {strategy!r} (known: {', '.join(STRATEGIES)})")


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def format_moment(moment: datetime, pipeline: Pipeline) -> str:
    """``2026-01-01 06:00+01:00``: an instant in the pipeline's timezone, to the minute."""
    return moment.astimezone(pipeline.tz).isoformat(sep=" ", timespec="minutes")


@dataclass(frozen=True, slots=True)
class Estimate:
    """How long the backfill should take, from the critical path of one run."""

    per_run: float
    total: float
    waves: int
    critical_path: list[str]
    from_history: bool  # every task on the critical path has history
    missing: list[str]  # tasks without history (estimated at DEFAULT_TASK_ESTIMATE)


@dataclass(frozen=True, slots=True)
class BackfillPlan:
    """What a backfill would do: the intervals, the order, and which ones already succeeded."""

    pipeline: Pipeline
    start: datetime
    end: datetime
    intervals: list[Interval]  # every interval whose start is in [start, end], oldest first
    parallelism: int
    strategy: str
    skip_existing: bool
    succeeded: frozenset[datetime] = field(default_factory=frozenset)  # UTC starts with a successful run

    @property
    def existing(self) -> list[Interval]:
        """Intervals that already have a successful run (what ``--skip-existing`` skips)."""
        return [i for i in self.intervals if _utc(i.start) in self.succeeded]

    @property
    def skipped(self) -> list[Interval]:
        return self.existing if self.skip_existing else []

    @property
    def to_run(self) -> list[Interval]:
        """The intervals that get a run, oldest first."""
        if not self.skip_existing:
            return list(self.intervals)
        return [i for i in self.intervals if _utc(i.start) not in self.succeeded]

    def ordered(self, backfill_id: str) -> list[Interval]:
        """The intervals that get a run, in the order they start."""
        return order_intervals(self.to_run, self.strategy, backfill_id)

    def estimate(self, durations: Mapping[str, float]) -> Estimate:
        """Per run: the critical path by typical durations; in all: ceil(runs / parallelism) waves of one run."""
        from headwater.model.graph import critical_path

        pipeline = self.pipeline
        weight = {t: durations.get(t, DEFAULT_TASK_ESTIMATE) for t in pipeline.order}
        path, per_run = critical_path(pipeline.order, pipeline.upstream, weight)
        waves = math.ceil(len(self.to_run) / self.parallelism)
        missing = [t for t in pipeline.order if t not in durations]
        return Estimate(per_run, waves * per_run, waves, path, not missing, missing)


def plan_backfill(
    pipeline: Pipeline,
    start: datetime,
    end: datetime,
    *,
    parallelism: int = DEFAULT_PARALLELISM,
    strategy: str = "oldest-first",
    skip_existing: bool = False,
    store: Store | None = None,
) -> BackfillPlan:
    """Check the request and list the intervals (UsageError for anything wrong; nothing is written).

    ``store`` (optional, only read) tells which intervals already have a successful run.
    """
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown backfill strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    if parallelism < 1:
        raise UsageError(f"backfill parallelism must be at least 1, got {parallelism}")
    timetable = Timetable.for_pipeline(pipeline)
    if timetable is None:
        raise UsageError(
            f"pipeline '{pipeline.id}' has no schedule to backfill (run it by hand with `headwater run --date`)"
        )
    start, end = resolve_range(pipeline, start, end)

    def show(moment: datetime) -> str:
        return format_moment(moment, pipeline)

    # Compare instants: datetimes in one zone compare by wall time, which is ambiguous in a repeated hour.
    if end.timestamp() < start.timestamp():
        raise UsageError(f"backfill range: end {show(end)} is before start {show(start)}")
    bounds = (
        f"start_date {show(pipeline.start_date) if pipeline.start_date else '(none)'}, "
        f"end_date {show(pipeline.end_date) if pipeline.end_date else '(none)'}"
    )
    if pipeline.start_date is not None and start.timestamp() < pipeline.start_date.timestamp():
        raise UsageError(
            f"backfill range: start {show(start)} is before the start_date of pipeline '{pipeline.id}' ({bounds})"
        )
    if pipeline.end_date is not None and end.timestamp() > pipeline.end_date.timestamp():
        raise UsageError(
            f"backfill range: end {show(end)} is after the end_date of pipeline '{pipeline.id}' ({bounds})"
        )
    last = end.timestamp()
    within = itertools.takewhile(lambda tick: tick.timestamp() <= last, timetable.ticks(start))
    if sum(1 for _ in itertools.islice(within, MAX_INTERVALS + 1)) > MAX_INTERVALS:
        raise UsageError(
            f"backfill range: more than {MAX_INTERVALS:,} intervals of schedule {pipeline.schedule!r} between "
            f"{show(start)} and {show(end)}: split it into smaller ranges"
        )
    intervals = timetable.intervals_between(start, end)
    if not intervals:
        raise UsageError(
            f"backfill range: no interval of schedule {pipeline.schedule!r} ({pipeline.timezone}) starts between "
            f"{show(start)} and {show(end)}"
        )
    succeeded: frozenset[datetime] = frozenset()
    if store is not None:
        from headwater.store.backfills import succeeded_intervals

        starts = {_utc(i.start) for i in intervals}
        succeeded = frozenset(d for d in succeeded_intervals(store, pipeline.id) if d in starts)
    return BackfillPlan(pipeline, start, end, intervals, parallelism, strategy, skip_existing, succeeded)


def check_backfill_pools(pipeline: Pipeline, pools: Mapping[str, PoolLimits]) -> None:
    """UsageError if a task needs more slots of a pool than backfill runs may hold (it could never start)."""
    for op in pipeline.tasks.values():
        name = op.options.pool
        limit = pools.get(name) if name is not None else None
        if limit is not None and op.options.pool_slots > limit.backfill_slots:
            raise UsageError(
                f"pipeline '{pipeline.id}': task '{op.task_id}' needs {op.options.pool_slots} slot(s) of pool "
                f"{name!r}, but backfill runs may hold only {limit.backfill_slots} (its backfill_slots): "
                "raise backfill_slots in the pool's settings"
            )


def create_backfill(
    store: Store,
    plan: BackfillPlan,
    *,
    executor_name: str,
    now: float,
    backfill_id: str | None = None,
) -> BackfillRecord:
    """Record the backfill and all its runs (queued, in strategy order) in one transaction."""
    from headwater.engine.run import new_task_instances, resolve_params
    from headwater.model.states import RunState
    from headwater.store.backfills import BackfillRecord, create
    from headwater.store.records import RunRecord

    backfill_id = backfill_id or new_backfill_id()
    pipeline = plan.pipeline
    created = datetime.fromtimestamp(now, UTC)
    params = resolve_params(pipeline, {})
    record = BackfillRecord(
        backfill_id=backfill_id,
        pipeline_id=pipeline.id,
        range_start=_utc(plan.start),
        range_end=_utc(plan.end),
        parallelism=plan.parallelism,
        strategy=plan.strategy,
        skip_existing=plan.skip_existing,
        state="running",
        total=len(plan.intervals),
        created_at=created,
    )
    runs = []
    for position, interval in enumerate(plan.ordered(backfill_id)):
        run = RunRecord(
            run_id=backfill_run_id(pipeline.id, backfill_id, interval.start),
            pipeline_id=pipeline.id,
            pipeline_file=pipeline.file,
            state=RunState.QUEUED,
            logical_date=_utc(interval.start),
            interval_start=_utc(interval.start),
            interval_end=_utc(interval.end),
            params=dict(params),
            trigger="backfill",
            executor=executor_name,
            # runs are claimed in created_at order: one microsecond apart, in strategy order
            created_at=created + timedelta(microseconds=position),
            lane="backfill",
            backfill_id=backfill_id,
        )
        runs.append((run, new_task_instances(pipeline, run.run_id)))
    create(store, record, runs)
    return record


# -- driving -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackfillOutcome:
    """Where a backfill stands after :meth:`BackfillRunner.run` returns."""

    backfill: BackfillRecord
    states: Mapping[str, int]  # run state -> number of the backfill's runs
    duration: float  # of this invocation
    finished: bool  # every run ended (False: interrupted; run it again to resume)
    failed_runs: list[RunRecord] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return sum(self.states.values())

    @property
    def completed(self) -> int:
        return self.states.get("success", 0)

    @property
    def failed(self) -> int:
        return self.states.get("failed", 0)

    @property
    def skipped(self) -> int:
        """Intervals of the range without a run (they had succeeded before: ``--skip-existing``)."""
        return self.backfill.total - self.runs

    @property
    def ok(self) -> bool:
        return self.finished and self.failed == 0


class BackfillProgress(Protocol):
    """What a display is told while a backfill runs (all calls from the driving thread)."""

    def started(self, backfill: BackfillRecord, states: Mapping[str, int], resumed: bool) -> None: ...

    def run_started(self, run: RunRecord) -> None: ...

    def run_finished(self, run: RunRecord, summary: RunSummary) -> None: ...

    def finished(self, outcome: BackfillOutcome) -> None: ...


class BackfillRunner:
    """Drives one backfill's runs with an in-process scheduler until none is left (or :meth:`stop`)."""

    def __init__(
        self,
        project: Project,
        pipeline: Pipeline,
        backfill: BackfillRecord,
        *,
        store: Store,
        executor: Executor,
        executor_name: str | None = None,
        clock: Clock | None = None,
        options: SchedulerOptions | None = None,
        progress: BackfillProgress | None = None,
        on_finished: Callable[[RunRecord, RunSummary], None] | None = None,
    ) -> None:
        from headwater.engine.clock import SystemClock
        from headwater.engine.scheduler import Scheduler

        if backfill.pipeline_id != pipeline.id:
            raise UsageError(
                f"backfill {backfill.backfill_id} is of pipeline '{backfill.pipeline_id}', not '{pipeline.id}'"
            )
        self.pipeline = pipeline
        self.backfill = backfill
        self.store = store
        self.clock = clock or SystemClock()
        self.progress = progress
        self._on_finished = on_finished
        self.scheduler: Scheduler = Scheduler(
            project,
            store=store,
            executor=executor,
            executor_name=executor_name,
            clock=self.clock,
            options=options,
            backfill_id=backfill.backfill_id,
            create_runs=False,
            pipelines=[pipeline],
            listener=self._listener,
            on_finished=self._finished,
        )

    def stop(self) -> None:
        """Stop after the tries running now (safe from signal handlers and other threads)."""
        self.scheduler.stop()

    def run(self, *, resumed: bool = False) -> BackfillOutcome:
        """Drive the runs until none is queued or running; finish the backfill record if so."""
        from headwater.store import backfills
        from headwater.store.leases import pending_runs

        began = self.clock.now()
        if self.progress is not None:
            self.progress.started(self.backfill, backfills.run_states(self.store, self.backfill.backfill_id), resumed)
        self.scheduler.run_forever(exit_when_idle=True)
        backfill_id = self.backfill.backfill_id
        done = pending_runs(self.store, [self.pipeline.id], backfill_id=backfill_id) == 0
        states = backfills.run_states(self.store, backfill_id)
        if done:
            state = "failed" if states.get("failed", 0) else "success"
            backfills.finish(self.store, backfill_id, state, self.clock.now())
        record = backfills.get(self.store, backfill_id) or self.backfill
        outcome = BackfillOutcome(
            backfill=record,
            states=states,
            duration=self.clock.now() - began,
            finished=done,
            failed_runs=backfills.runs_in_state(self.store, backfill_id, "failed"),
        )
        if self.progress is not None:
            self.progress.finished(outcome)
        return outcome

    def _listener(self, run: RunRecord) -> RunListener:
        from headwater.engine.listener import NullListener

        if self.progress is not None:
            self.progress.run_started(run)
        return NullListener()

    def _finished(self, run: RunRecord, summary: RunSummary) -> None:
        if self.progress is not None:
            self.progress.run_finished(run, summary)
        if self._on_finished is not None:
            self._on_finished(run, summary)
