"""The scheduler: creates runs from schedules and drives every run it holds the lease of.

One pass (:meth:`Scheduler.step`) re-reads changed pipeline files, creates the
runs that became due, takes the leases of runs it should drive (queued runs
within ``max_active_runs``, and runs whose driver died), and starts each in its
own thread on a shared executor. Between passes it sleeps until the next
schedule is due, a run finishes, or a signal arrives; the periodic tick is only
a safety net. Several schedulers may share one database: run creation is
exactly-once by the run's deterministic id, and leases decide who drives what.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from headwater.config.settings import Project
from headwater.engine.admission import Admission, pool_limits, pool_sizes
from headwater.engine.clock import Clock, SystemClock
from headwater.engine.hub import ExecutorHub
from headwater.engine.listener import NullListener, RunListener, RunSummary
from headwater.engine.run import RunEngine, new_task_instances, resolve_params
from headwater.errors import DefinitionError
from headwater.executors.base import Executor
from headwater.model.pipeline import Pipeline
from headwater.model.states import RunState
from headwater.store.leases import (
    Limits,
    claim_runs,
    heartbeat,
    insert_run_if_absent,
    lock_pipeline,
    new_owner_id,
    register_scheduler,
    set_cursor,
    stop_scheduler,
)
from headwater.store.records import Lease, LeaseLost, RunRecord
from headwater.store.repository import Store

if TYPE_CHECKING:
    from headwater.config.scheduler_settings import SchedulerSettings
    from headwater.engine.events.triggers import EventTriggers
    from headwater.loader.assets import AssetGraph

log = logging.getLogger("headwater.scheduler")
#: At most this many missed intervals get runs per pass (the rest in the next passes).
CATCHUP_BATCH = 500


@dataclass(frozen=True, slots=True)
class SchedulerOptions:
    """Timings of the scheduler (all seconds)."""

    tick: float = 5.0  # the safety-net wake-up; real work wakes on events
    lease_ttl: float = 30.0  # a run whose driver stops renewing is taken over after this
    heartbeat_timeout: float | None = 60.0  # a running try silent this long is presumed dead
    parse_interval: float = 10.0  # how often pipeline files are checked for changes
    shutdown_grace: float = 30.0  # how long running tries may finish on SIGTERM before they are handed back
    max_runs: int = 64  # runs driven at once by this scheduler
    backfill_concurrency: int | None = None  # tries of backfill runs at once (default: half the capacity)
    priority_policy: str = "critical_path"

    @classmethod
    def from_settings(cls, conf: SchedulerSettings) -> SchedulerOptions:
        """The options the ``[scheduler]`` settings table describes."""
        return cls(
            tick=conf.tick,
            lease_ttl=conf.lease_ttl,
            heartbeat_timeout=conf.heartbeat_timeout,
            parse_interval=conf.parse_interval,
            shutdown_grace=conf.shutdown_grace,
            max_runs=conf.max_runs,
            backfill_concurrency=conf.backfill_concurrency,
            priority_policy=conf.priority,
        )


def scheduled_run_id(pipeline_id: str, logical_date: datetime, kind: str = "scheduled") -> str:
    """The deterministic id of the run for one interval: two schedulers can only ever create it once."""
    return f"{pipeline_id}-{logical_date.astimezone(UTC).strftime('%Y%m%dT%H%M%S')}-{kind}"


@dataclass(slots=True)
class _Active:
    run: RunRecord
    engine: RunEngine
    thread: threading.Thread
    lease: Lease
    summary: RunSummary | None = None


@dataclass(slots=True)
class _Known:
    pipeline: Pipeline
    next_check: float = 0.0  # when a run may next become due (epoch seconds)
    durations: dict[str, float] | None = None  # median task durations, read once per pipeline version


class Scheduler:
    """Drives the project's schedules and runs until stopped."""

    def __init__(
        self,
        project: Project,
        *,
        store: Store,
        executor: Executor,
        executor_name: str | None = None,
        clock: Clock | None = None,
        options: SchedulerOptions | None = None,
        backfill_id: str | None = None,
        create_runs: bool = True,
        pipelines: list[Pipeline] | None = None,
        listener: Callable[[RunRecord], RunListener] | None = None,
        on_finished: Callable[[RunRecord, RunSummary], None] | None = None,
    ) -> None:
        self.project = project
        self.store = store
        self.executor = executor
        self.executor_name = executor_name or executor.name
        self.clock = clock or SystemClock()
        self.options = options or SchedulerOptions()
        self.backfill_id = backfill_id
        self.create_runs = create_runs
        self.owner = new_owner_id()
        self.listener = listener
        self.on_finished = on_finished
        settings = project.settings
        limits = [c for c in (settings.concurrency, executor.capacity) if c]
        capacity = min(limits) if limits else None
        backfill_capacity = self.options.backfill_concurrency or (max(1, capacity // 2) if capacity else None)
        self.pool_limits = pool_limits(settings.pools)
        self.pool_sizes = pool_sizes(settings.pools)
        self.hub = ExecutorHub(executor)
        self.admission = Admission(
            store=store,
            owner=self.owner,
            capacity=capacity,
            backfill_capacity=backfill_capacity,
            pools=self.pool_limits,
        )
        from headwater.engine.alerts import Alerter
        from headwater.engine.deadlines import DeadlineWatch

        self.alerter = Alerter.from_settings(settings, background=True)
        self.deadlines = DeadlineWatch(store, self.alerter.send, self.clock)
        from headwater.engine.automation import AutoMaterializer
        from headwater.engine.freshness import FreshnessWatch

        # asset freshness and auto-materialization: not in a backfill's own scheduler
        self.freshness = FreshnessWatch(store, self.alerter.send) if backfill_id is None else None
        watch_assets = create_runs and backfill_id is None
        self.automation = AutoMaterializer(store, executor_name=self.executor_name) if watch_assets else None
        self._assets_graph: tuple[Pipeline, AssetGraph] | None = None
        self._assets_checked = False  # the asset graph was loaded once (re-loaded when a file changes)
        self._assets_error: DefinitionError | None = None  # why the asset graph does not load, if it does not
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.active: dict[str, _Active] = {}
        self.finished: list[tuple[RunRecord, RunSummary]] = []
        self.known: dict[str, _Known] = {}
        self.load_errors: list[DefinitionError] = []
        self._fixed = pipelines
        self._files: dict[str, tuple[tuple[int, int], list[Pipeline] | DefinitionError]] = {}
        self._next_parse = 0.0
        self._next_renewal = 0.0
        self._lock = threading.Lock()
        self._registered = False
        self.events: EventTriggers | None = None  # event triggers: only a scheduler that creates runs watches them
        if create_runs and backfill_id is None:
            from headwater.engine.events.triggers import EventTriggers

            self.events = EventTriggers(
                project,
                store,
                clock=self.clock,
                executor_name=self.executor_name,
                wake=self.wake.set,
                recheck=self.options.tick,
            )

    # -- lifecycle ------------------------------------------------------------------
    def run_forever(self, *, exit_when_idle: bool = False) -> None:
        """Loop until :meth:`stop` (or, with ``exit_when_idle``, until nothing is left to do)."""
        try:
            while not self.stopping.is_set():
                wait = self.step()
                if exit_when_idle and self.idle():
                    break
                self.wake.wait(wait)
                self.wake.clear()
        finally:
            self.shutdown()

    def stop(self) -> None:
        """Ask the loop to stop (safe from signal handlers and other threads)."""
        self.stopping.set()
        self.wake.set()

    def idle(self) -> bool:
        """No run in flight here and none waiting in the store for this scheduler."""
        if self.active or (self.events is not None and self.events.has_pending()):
            return False
        from headwater.store.leases import pending_runs

        return pending_runs(self.store, list(self.known), backfill_id=self.backfill_id) == 0

    def shutdown(self) -> None:
        """Let running tries finish (up to the grace period), hand back the rest, give back every lease."""
        active = list(self.active.values())
        for item in active:
            item.engine.request_stop(drain=True)
        deadline = self.clock.now() + self.options.shutdown_grace
        for item in active:
            item.thread.join(max(0.0, deadline - self.clock.now()))
        for item in active:
            if item.thread.is_alive():
                item.engine.request_stop(drain=False)
        for item in active:
            item.thread.join(10.0)
        self._reap()
        if self.events is not None:
            self.events.stop()
        self.hub.shutdown(wait=False)
        self.alerter.close()
        if self._registered:
            stop_scheduler(self.store, self.owner, self.clock.now())

    # -- one pass ---------------------------------------------------------------------
    def step(self) -> float:
        """Do everything that is due now; return seconds until the next pass is needed."""
        now = self.clock.now()
        if not self._registered:
            register_scheduler(self.store, self.owner, now)
            self._registered = True
            self.hub.start()
        if now >= self._next_parse:
            self._load_pipelines()
            self._next_parse = now + self.options.parse_interval
        self._reap()
        if self.create_runs:
            self._create_due_runs(now)
        event_due = None
        if self.events is not None:
            for error in self.events.sync({pid: k.pipeline for pid, k in self.known.items()}):
                if error not in self.load_errors:
                    self.load_errors.append(error)
            event_due = self.events.fire_due(now)
        assets = self._asset_graph()
        auto_due = None
        if self.automation is not None:
            auto_due = self.automation.check(assets[1] if assets else None, now, pipeline=assets[0] if assets else None)
        self._claim(now)
        if now >= self._next_renewal:
            heartbeat(self.store, self.owner, now)
            self._next_renewal = now + self.options.lease_ttl / 3
        upcoming = [k.next_check for k in self.known.values() if k.next_check > now] if self.create_runs else []
        upcoming += [self._next_parse, self._next_renewal]
        if event_due is not None:
            upcoming.append(event_due)
        if self.backfill_id is None:
            due = self.deadlines.check({pid: k.pipeline for pid, k in self.known.items()}, now)
            if due is not None:
                upcoming.append(due)
        if self.freshness is not None:
            fresh_due = self.freshness.check(assets[1].assets if assets else None, now)
            if fresh_due is not None:
                upcoming.append(fresh_due)
        if auto_due is not None:
            upcoming.append(auto_due)
        return max(0.0, min([*upcoming, now + self.options.tick]) - self.clock.now())

    def _asset_graph(self) -> tuple[Pipeline, AssetGraph] | None:
        """The ``assets`` pipeline and its asset graph (rebuilt only when the pipeline changes)."""
        from headwater.model.pipeline import ASSETS_PIPELINE_ID

        known = self.known.get(ASSETS_PIPELINE_ID)
        if known is None:
            self._assets_graph = None
            return None
        if self._assets_graph is None or self._assets_graph[0] is not known.pipeline:
            from headwater.loader.assets import graph_of

            pipeline = known.pipeline
            try:
                graph = graph_of(pipeline.asset_definitions.values(), folder=pipeline.file)
            except DefinitionError as exc:  # validated when loaded; never stop the scheduler over it
                log.error("%s", exc)
                return None
            self._assets_graph = (pipeline, graph)
        return self._assets_graph

    def _load_pipelines(self) -> None:
        if self._fixed is not None:
            for pipeline in self._fixed:
                self.known.setdefault(pipeline.id, _Known(pipeline))
            return
        from headwater.loader.files import load_file
        from headwater.loader.index import pipeline_files

        found: dict[str, Pipeline] = {}
        errors: list[DefinitionError] = []
        seen: dict[str, tuple[tuple[int, int], list[Pipeline] | DefinitionError]] = {}
        for path in pipeline_files(self.project.pipelines_dir):
            key = str(path)
            try:
                st = os.stat(key)
                signature = (st.st_mtime_ns, st.st_size)
                cached = self._files.get(key)
                if cached is not None and cached[0] == signature:
                    loaded = cached[1]  # unchanged since the last pass: not even looked at again
                else:
                    try:
                        loaded = load_file(path)
                    except DefinitionError as exc:
                        loaded = exc
                seen[key] = (signature, loaded)
                if isinstance(loaded, DefinitionError):
                    raise loaded
                for pipeline in loaded:
                    if pipeline.id in found:
                        raise DefinitionError(
                            f"duplicate pipeline id '{pipeline.id}' (also in {found[pipeline.id].file})",
                            file=str(path),
                        )
                    found[pipeline.id] = pipeline
            except DefinitionError as exc:
                errors.append(exc)
            except OSError:
                continue  # removed while we looked
        unchanged = {k: v[0] for k, v in seen.items()} == {k: v[0] for k, v in self._files.items()}
        self._files = seen
        assets = self._asset_pipeline(errors, unchanged=unchanged)
        if assets is not None:
            found[assets.id] = assets
        for error in errors:
            if str(error) not in {str(e) for e in self.load_errors}:
                log.error("%s", error)
        self.load_errors = errors
        for pipeline_id, pipeline in found.items():
            known = self.known.get(pipeline_id)
            if known is None or known.pipeline is not pipeline:
                try:
                    from headwater.engine.run import check_pools

                    check_pools(pipeline, self.pool_sizes)
                except DefinitionError as exc:
                    log.error("%s", exc)
                    continue
                for warning in starvation_warnings(pipeline, self.pool_sizes):
                    log.warning("%s", warning)
                self.known[pipeline_id] = _Known(pipeline)
        for pipeline_id in list(self.known):
            if pipeline_id not in found:
                del self.known[pipeline_id]

    def _create_due_runs(self, now: float) -> None:
        from headwater.model.timetable import Timetable

        moment = datetime.fromtimestamp(now, UTC)
        for known in self.known.values():
            pipeline = known.pipeline
            if known.next_check > now:
                continue
            timetable = Timetable.for_pipeline(pipeline)
            if timetable is None:
                known.next_check = float("inf")
                continue
            with self.store.engine.begin() as conn:
                cursor = lock_pipeline(conn, pipeline.id, pipeline.file)
                intervals = timetable.due(moment, cursor, catchup=pipeline.catchup, limit=CATCHUP_BATCH)
                for interval in intervals:
                    record = RunRecord(
                        run_id=scheduled_run_id(pipeline.id, interval.start),
                        pipeline_id=pipeline.id,
                        pipeline_file=pipeline.file,
                        state=RunState.QUEUED,
                        logical_date=interval.start,
                        interval_start=interval.start,
                        interval_end=interval.end,
                        params=resolve_params(pipeline, {}),
                        trigger="schedule",
                        executor=self.executor_name,
                        created_at=moment,
                    )
                    if insert_run_if_absent(conn, record, new_task_instances(pipeline, record.run_id)):
                        log.info("created run %s for %s", record.run_id, interval.start.isoformat())
                if intervals:
                    set_cursor(conn, pipeline.id, intervals[-1].end)
            if len(intervals) >= CATCHUP_BATCH:
                known.next_check = now  # more to catch up: the next pass continues
                continue
            due_at = timetable.next_due_time(moment, intervals[-1].end if intervals else cursor)
            known.next_check = due_at.timestamp() if due_at is not None else float("inf")

    def _claim(self, now: float) -> None:
        room = self.options.max_runs - len(self.active)
        if room <= 0 or self.stopping.is_set() or not self.known:
            return
        limits = Limits(
            max_active_runs={pid: k.pipeline.max_active_runs for pid, k in self.known.items()},
            backfill_parallelism=self._backfill_parallelism(),
        )
        claims = claim_runs(
            self.store,
            self.owner,
            now=now,
            ttl=self.options.lease_ttl,
            limits=limits,
            pipeline_ids=list(self.known),
            backfill_id=self.backfill_id,
            max_claims=room,
        )
        for claim in claims:
            current = self.active.get(claim.run.run_id)
            if current is not None:
                # Our own driver let its lease lapse (the process was suspended): it has lost the run
                # (its next write is refused) and stops; the new lease drives it from here.
                current.engine.request_stop(drain=False)
                current.thread.join(30)
                with self._lock:
                    self.active.pop(claim.run.run_id, None)
            self._start(claim.run, claim.lease, claim.resumed or current is not None)

    def _backfill_parallelism(self) -> dict[str, int]:
        from headwater.store.backfills import active_parallelism

        return active_parallelism(self.store)

    def _asset_pipeline(self, errors: list[DefinitionError], *, unchanged: bool) -> Pipeline | None:
        """The ``assets`` pipeline when the project defines assets (its previous version while the graph is broken).

        ``unchanged``: no pipeline file changed since the last pass, so neither did the asset graph.
        """
        from headwater.loader.assets import asset_pipeline, load_asset_graph
        from headwater.model.pipeline import ASSETS_PIPELINE_ID

        if unchanged and self._assets_checked:
            previous = self.known.get(ASSETS_PIPELINE_ID)
            if self._assets_error is not None and not any(str(self._assets_error) == str(e) for e in errors):
                errors.append(self._assets_error)
            return previous.pipeline if previous is not None else None
        self._assets_checked = True
        self._assets_error = None
        try:
            graph = load_asset_graph(self.project.pipelines_dir)
        except DefinitionError as exc:
            self._assets_error = exc
            if not any(str(exc) == str(e) for e in errors):
                errors.append(exc)
            previous = self.known.get(ASSETS_PIPELINE_ID)
            return previous.pipeline if previous is not None else None
        return asset_pipeline(graph) if len(graph) else None

    def _start(self, record: RunRecord, lease: Lease, resumed: bool) -> None:
        from headwater.engine.asset_runs import run_subset

        known = self.known[record.pipeline_id]
        if known.durations is None:
            known.durations = self.store.typical_durations(record.pipeline_id)
        settings = self.project.settings
        engine = RunEngine(
            run_subset(known.pipeline, self.store, record.run_id),  # an assets run: only its own assets
            self.store,
            self.executor,
            executor_name=self.executor_name,
            pools=settings.pools,
            concurrency=settings.concurrency,
            clock=self.clock,
            listener=self.listener(record) if self.listener else NullListener(),
            logs_dir=self.project.path(settings.logs),
            results_url=self.project.results_url,
            project_dir=str(self.project.root),
            hub=self.hub,
            admission=self.admission,
            owner=self.owner,
            lease_ttl=self.options.lease_ttl,
            heartbeat_timeout=self.options.heartbeat_timeout,
            durations=known.durations,
            priority_policy=self.options.priority_policy,
            alerter=self.alerter,
        )
        item = _Active(record, engine, threading.Thread(), lease)
        item.thread = threading.Thread(
            target=self._drive, args=(item, resumed), name=f"headwater-run-{record.run_id}", daemon=True
        )
        with self._lock:
            self.active[record.run_id] = item
        log.info("%s run %s", "resuming" if resumed else "starting", record.run_id)
        item.thread.start()

    def _drive(self, item: _Active, resumed: bool) -> None:
        try:
            item.summary = item.engine.run(item.run, resumed=resumed, lease=item.lease)
        except LeaseLost as exc:
            log.warning("%s", exc)
        except Exception:
            log.exception("run %s stopped on an internal error; another pass will resume it", item.run.run_id)
            from headwater.store.leases import release

            with contextlib.suppress(Exception):  # otherwise the lease simply expires
                release(self.store, item.lease)
        finally:
            self.wake.set()

    def _reap(self) -> None:
        with self._lock:
            done = [item for item in self.active.values() if not item.thread.is_alive()]
            for item in done:
                del self.active[item.run.run_id]
        for item in done:
            if item.summary is not None:
                self.finished.append((item.run, item.summary))
                log.info("run %s finished: %s", item.run.run_id, item.summary.state)
                if self.on_finished is not None:
                    self.on_finished(item.run, item.summary)


def starvation_warnings(pipeline: Pipeline, pools: dict[str, int]) -> list[str]:
    """Configurations that could still starve: poke-mode sensors able to hold a whole pool while a task waits.

    A sensor in ``poke`` mode holds its slot while it waits. If as many of them as
    the pool has slots can wait at the same time as another task of the pool (none
    of them upstream or downstream of it), that task may never get a slot, and if
    the sensors wait for it, nothing moves. ``mode="reschedule"`` releases the slot
    between pokes.
    """
    ancestors: dict[str, set[str]] = {}
    for task_id in pipeline.order:
        found: set[str] = set()
        for up in pipeline.upstream[task_id]:
            found |= {up} | ancestors[up]
        ancestors[task_id] = found
    warnings = []
    for pool, slots in pools.items():
        members = [op for op in pipeline.tasks.values() if op.options.pool == pool]
        blocking = [op for op in members if getattr(op, "blocks_slot", False)]
        for op in members:
            if op in blocking:
                continue
            alongside = [
                s for s in blocking if s.task_id not in ancestors[op.task_id] and op.task_id not in ancestors[s.task_id]
            ]
            if len(alongside) >= slots:
                names = ", ".join(s.task_id for s in alongside[:5])
                warnings.append(
                    f"pipeline '{pipeline.id}' ({pipeline.file}): {len(alongside)} sensor(s) in poke mode ({names}) "
                    f"can hold all {slots} slot(s) of pool {pool!r} while task '{op.task_id}' waits for one: "
                    "use mode='reschedule' or a larger pool"
                )
                break
    return warnings
