"""Partition backfills of an asset: every partition in a range, missing upstream partitions first, resumably.

The backfill is recorded in ``hw_backfills`` (its ``pipeline_id`` is ``asset:<key>``, its range the first
and last partition's window start), and its runs, in lane ``backfill``, are created wave by wave from a
:class:`~headwater.engine.materialize.MaterializePlan`: a wave's runs are queued once every run of the
waves before it succeeded, and an in-process scheduler drives them, at most ``parallelism`` at a time,
within the backfill lane's budgets. A failed run stops the later waves. Interrupted, the backfill stays
``running``; the same command resumes it: the runs in flight are taken back, then what is left of the
range is planned again from what the store knows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from headwater.engine.materialize import (
    MaterializePlan,
    PlannedRun,
    StateReader,
    check_asset_keys,
    no_states,
    plan_materialization,
)
from headwater.errors import DefinitionError, UsageError

if TYPE_CHECKING:
    from headwater.config.settings import Project
    from headwater.engine.clock import Clock
    from headwater.engine.listener import RunListener, RunSummary
    from headwater.engine.materialize import MaterializeProgress
    from headwater.engine.scheduler import Scheduler, SchedulerOptions
    from headwater.executors.base import Executor
    from headwater.loader.assets import AssetGraph
    from headwater.model.partitions import PartitionsDefinition
    from headwater.store.backfills import BackfillRecord
    from headwater.store.records import RunRecord
    from headwater.store.repository import Store

#: A backfill of more partitions than this is refused (split the range).
MAX_PARTITIONS = 100_000
#: Static partitions have no time: their range is stored as this instant plus the key's position in seconds.
_STATIC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def backfill_target(asset_key: str) -> str:
    """What an asset backfill stores as its ``pipeline_id`` in ``hw_backfills``."""
    return f"asset:{asset_key}"


def asset_of_backfill(record: BackfillRecord) -> str | None:
    """The asset key of an asset backfill (None for a pipeline backfill)."""
    prefix = backfill_target("")
    return record.pipeline_id[len(prefix) :] if record.pipeline_id.startswith(prefix) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetBackfillPlan:
    """The partitions of a backfill and the runs that materialize them (upstream first)."""

    asset_key: str
    partitions: PartitionsDefinition
    keys: list[str]  # every partition of the range, in order
    plan: MaterializePlan
    parallelism: int
    skip_existing: bool
    done: frozenset[str] = frozenset()  # partitions this backfill materialized before it was resumed

    @property
    def range_start(self) -> datetime:
        return range_bound(self.partitions, self.keys[0])

    @property
    def range_end(self) -> datetime:
        return range_bound(self.partitions, self.keys[-1])


def range_bound(definition: PartitionsDefinition, key: str) -> datetime:
    """How a partition bounds a backfill in ``hw_backfills``: its window start (static: its position)."""
    window = definition.window(key)
    if window is not None:
        return window.start.astimezone(UTC)
    return _STATIC_EPOCH + timedelta(seconds=definition.keys().index(key))


def partition_range(graph: AssetGraph, asset_key: str, start: str, end: str) -> tuple[PartitionsDefinition, list[str]]:
    """The checked partition keys from ``start`` to ``end`` (both included) of a partitioned asset."""
    check_asset_keys(graph, [asset_key])
    definition = graph.assets[asset_key].partitions
    if definition is None:
        raise UsageError(
            f"asset '{asset_key}' is not partitioned: there is no range to backfill "
            f"(materialize it with `headwater materialize {asset_key}`)"
        )
    checked = []
    for option, key in (("--start", start), ("--end", end)):
        try:
            checked.append(definition.check_key(key))
        except DefinitionError as exc:
            raise UsageError(f"{option} for asset '{asset_key}': {exc.message}") from None
    first, last = checked
    try:
        keys = definition.keys_between(first, last)
    except DefinitionError as exc:
        raise UsageError(f"backfill range of asset '{asset_key}': {exc.message}") from None
    if not keys:
        raise UsageError(f"backfill range: --end {last} comes before --start {first} in {definition.describe()}")
    if len(keys) > MAX_PARTITIONS:
        raise UsageError(
            f"backfill range: {len(keys):,} partitions from {first} to {last}: more than {MAX_PARTITIONS:,}, "
            "split it into smaller ranges"
        )
    return definition, keys


def plan_asset_backfill(
    graph: AssetGraph,
    asset_key: str,
    start: str,
    end: str,
    *,
    parallelism: int = 5,
    strategy: str = "oldest-first",
    skip_existing: bool = False,
    states: StateReader = no_states,
    done: frozenset[str] = frozenset(),
    seed: str = "",
    now: datetime | None = None,
) -> AssetBackfillPlan:
    """Check the request and plan it (UsageError for anything wrong; nothing is written).

    ``done`` are partitions of the target this backfill already materialized (a resumed backfill skips them);
    with ``skip_existing`` every partition materialized before (and not failed since) is skipped too.
    """
    if parallelism < 1:
        raise UsageError(f"backfill parallelism must be at least 1, got {parallelism}")
    definition, keys = partition_range(graph, asset_key, start, end)
    requests = [(asset_key, k) for k in keys if k not in done]
    plan = plan_materialization(
        graph, requests, states=states, skip_existing=skip_existing, strategy=strategy, seed=seed, now=now
    )
    return AssetBackfillPlan(
        asset_key=asset_key,
        partitions=definition,
        keys=keys,
        plan=plan,
        parallelism=parallelism,
        skip_existing=skip_existing,
        done=frozenset(k for k in keys if k in done),
    )


def find_open(store: Store, plan: AssetBackfillPlan) -> BackfillRecord | None:
    """An unfinished backfill of the same asset and range (to resume instead of starting over)."""
    from headwater.store import backfills

    return backfills.find_open(store, backfill_target(plan.asset_key), plan.range_start, plan.range_end)


def create_asset_backfill(
    store: Store, plan: AssetBackfillPlan, *, now: float, backfill_id: str | None = None
) -> BackfillRecord:
    """Record the backfill (its runs are created wave by wave as it runs)."""
    from headwater.engine.backfill import new_backfill_id
    from headwater.store.backfills import BackfillRecord, create

    record = BackfillRecord(
        backfill_id=backfill_id or new_backfill_id(),
        pipeline_id=backfill_target(plan.asset_key),
        range_start=plan.range_start,
        range_end=plan.range_end,
        parallelism=plan.parallelism,
        strategy=plan.plan.strategy,
        skip_existing=plan.skip_existing,
        state="running",
        total=len(plan.keys),
        created_at=datetime.fromtimestamp(now, UTC),
    )
    create(store, record, [])
    return record


# -- driving -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssetBackfillOutcome:
    """Where an asset backfill stands after :meth:`AssetBackfillRunner.run` returns."""

    backfill: BackfillRecord
    states: Mapping[str, int]  # run state -> number of the backfill's runs (all invocations)
    duration: float  # of this invocation
    finished: bool  # nothing left to run (False: interrupted; run the same command to resume)
    materialized: list[str] = field(default_factory=list)  # partitions of the target materialized by the backfill
    skipped: int = 0  # partitions skipped (already materialized, with --skip-existing)
    not_started: list[PlannedRun] = field(default_factory=list)  # runs of waves after a failure
    failed_runs: list[RunRecord] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return self.states.get("failed", 0)

    @property
    def ok(self) -> bool:
        return self.finished and self.failed == 0 and not self.not_started


class AssetBackfillRunner:
    """Drives an asset backfill's waves with an in-process scheduler until none is left (or :meth:`stop`)."""

    def __init__(
        self,
        project: Project,
        graph: AssetGraph,
        backfill: BackfillRecord,
        *,
        store: Store,
        executor: Executor,
        executor_name: str | None = None,
        clock: Clock | None = None,
        options: SchedulerOptions | None = None,
        progress: MaterializeProgress | None = None,
    ) -> None:
        from headwater.engine.clock import SystemClock
        from headwater.engine.scheduler import Scheduler
        from headwater.loader.assets import asset_pipeline

        asset_key = asset_of_backfill(backfill)
        if asset_key is None:
            raise UsageError(f"backfill {backfill.backfill_id} is of pipeline '{backfill.pipeline_id}', not an asset")
        self.asset_key = asset_key
        self.graph = graph
        self.backfill = backfill
        self.store = store
        self.clock = clock or SystemClock()
        self.progress = progress
        self.executor_name = executor_name or executor.name
        self.planned: dict[str, PlannedRun] = {}  # run id -> the plan's run
        self.scheduler: Scheduler = Scheduler(
            project,
            store=store,
            executor=executor,
            executor_name=executor_name,
            clock=self.clock,
            options=options,
            backfill_id=backfill.backfill_id,
            create_runs=False,
            pipelines=[asset_pipeline(graph)],
            listener=self._listener,
            on_finished=self._finished,
        )

    def stop(self) -> None:
        """Stop after the tries running now (safe from signal handlers and other threads)."""
        self.scheduler.stop()

    def run(self, plan_rest: Callable[[frozenset[str]], AssetBackfillPlan]) -> AssetBackfillOutcome:
        """Drive the runs left from an earlier invocation, then plan what is left and run it wave by wave.

        ``plan_rest(done)`` plans the range without the partitions of the target this backfill already
        materialized (``done``), reading the store as it is once the leftover runs have ended.
        """
        from headwater.store import backfills

        began = self.clock.now()
        backfill_id = self.backfill.backfill_id
        scheduler = self.scheduler
        plan: AssetBackfillPlan | None = None
        waves: list[list[PlannedRun]] = []
        failed = False
        try:
            while not scheduler.stopping.is_set():
                wait = scheduler.step()
                if not scheduler.idle():
                    scheduler.wake.wait(wait)
                    scheduler.wake.clear()
                    continue
                if backfills.run_states(self.store, backfill_id).get("failed", 0):
                    failed = True  # a failed run stops the later waves
                    break
                if plan is None:
                    plan = plan_rest(self._done())
                    waves = [plan.plan.wave(n) for n in range(plan.plan.waves)]
                if not waves:
                    break
                self._queue(waves.pop(0))
        finally:
            scheduler.shutdown()
        finished = self._pending() == 0 and (failed or (plan is not None and not waves))
        states = backfills.run_states(self.store, backfill_id)
        if finished:
            state = "failed" if states.get("failed", 0) else "success"
            backfills.finish(self.store, backfill_id, state, self.clock.now())
        return AssetBackfillOutcome(
            backfill=backfills.get(self.store, backfill_id) or self.backfill,
            states=states,
            duration=self.clock.now() - began,
            finished=finished,
            materialized=sorted(self._done()),
            skipped=len(plan.plan.skipped) if plan is not None else 0,
            not_started=[r for wave in waves for r in wave] if failed else [],
            failed_runs=backfills.runs_in_state(self.store, backfill_id, "failed"),
        )

    def _pending(self) -> int:
        from headwater.model.pipeline import ASSETS_PIPELINE_ID
        from headwater.store.leases import pending_runs

        return pending_runs(self.store, [ASSETS_PIPELINE_ID], backfill_id=self.backfill.backfill_id)

    def _done(self) -> frozenset[str]:
        """Partitions of the target that runs of this backfill materialized."""
        from headwater.store.backfills import materialized_partitions

        return frozenset(materialized_partitions(self.store, self.backfill.backfill_id, self.asset_key))

    def _queue(self, wave: list[PlannedRun]) -> None:
        """Create the wave's runs, queued in the backfill lane, one microsecond apart in the wave's order."""
        from headwater.engine.asset_runs import queue_asset_run

        now = self.clock.now()
        for position, run in enumerate(wave):
            record = queue_asset_run(
                self.store,
                self.graph,
                run.assets,
                run.partition_key,
                trigger="backfill",
                now=now + position * 1e-5,  # runs are claimed in created_at order
                lane="backfill",
                backfill_id=self.backfill.backfill_id,
                executor_name=self.executor_name,
            )
            self.planned[record.run_id] = run
        self.scheduler.wake.set()

    def _listener(self, run: RunRecord) -> RunListener:
        from headwater.engine.listener import NullListener

        if self.progress is not None:
            self.progress.run_started(self._planned(run))
        return NullListener()

    def _finished(self, run: RunRecord, summary: RunSummary) -> None:
        if self.progress is not None and summary.state in ("success", "failed"):
            self.progress.run_finished(self._planned(run), summary)

    def _planned(self, run: RunRecord) -> PlannedRun:
        found = self.planned.get(run.run_id)
        if found is None:  # a run of an earlier invocation
            assets = tuple(self.graph.sorted(ti.task_id for ti in self.store.task_instances(run.run_id)))
            found = PlannedRun(wave=0, partition_key=run.partition_key, partitions=None, assets=assets, requested=())
            self.planned[run.run_id] = found
        return found
