"""The run engine: drives one pipeline run to completion on any executor.

One loop, woken by executor events or by the next timer (a retry becoming due,
a timeout expiring), never by a fixed sleep. Each pass applies every event that
has arrived, then commits all resulting state changes in one transaction, and
only then submits the tasks that became ready: a task never starts before the
success of its upstream is durable, so a crash at any point loses nothing and
re-runs nothing that succeeded.
"""

from __future__ import annotations

import heapq
import itertools
import json
import queue
import random
import re
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.engine.admission import Admission, pool_limits
from headwater.engine.asset_runs import AssetRunError, RunAssets
from headwater.engine.clock import Clock, SystemClock
from headwater.engine.hub import ExecutorHub
from headwater.engine.intervals import manual_interval
from headwater.engine.listener import NullListener, RunListener, RunSummary, TaskSummary
from headwater.errors import DefinitionError, UsageError
from headwater.executors.base import (
    EncodedResult,
    EventKind,
    Executor,
    TaskEvent,
    TaskKey,
    TaskSubmission,
)
from headwater.model.graph import longest_paths
from headwater.model.mapped import MapError, MappedOperator, instance_id, parse_instance_id
from headwater.model.operator import Operator
from headwater.model.pipeline import Pipeline
from headwater.model.states import RunState, TaskState
from headwater.model.trigger_rules import Decision, UpstreamCounts, decide
from headwater.store.pools import SlotRequest
from headwater.store.records import (
    Lease,
    LeaseLost,
    RunRecord,
    TaskInstanceRecord,
    TryRecord,
    to_datetime,
    to_timestamp,
)
from headwater.store.repository import Store

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from headwater.config.settings import PoolSetting
    from headwater.engine.alerts import Alerter
    from headwater.plugin.notifier import Alert
    from headwater.store.breakers import BreakerInfo

#: How long the engine waits for an event before asking the executor whether it is still healthy.
HEALTH_CHECK_INTERVAL = 30.0
#: How often a task waiting for a pool slot re-checks the database (slots freed by another process).
POOL_RECHECK = 2.0
DEFAULT_LEASE_TTL = 60.0
INTERRUPTED = "interrupted: the process running this try stopped before it finished"
HANDED_BACK = "handed back: the scheduler stopped before this try finished; the try will run again"

_FAILED_LIKE = (TaskState.FAILED, TaskState.UPSTREAM_FAILED)
_RUN_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_NULL_RESULT = EncodedResult("json", "null")  # a skipped instance's place in its node's gathered result


def new_run_id(pipeline_id: str, logical_date: datetime, partition_key: str | None = None) -> str:
    """A new run id: the pipeline, the partition if any, the logical date and a random suffix."""
    stamp = logical_date.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    part = f"-{_RUN_ID_UNSAFE.sub('', partition_key)[:60]}" if partition_key else ""
    return f"{pipeline_id}{part}-{stamp}-{secrets.token_hex(3)}"


@dataclass(eq=False, slots=True)
class _Task:
    """The engine's working state for one task of the run."""

    op: Operator
    ti: TaskInstanceRecord
    order: int
    weight: float
    ups: list[_Task] = field(default_factory=list)
    downs: list[_Task] = field(default_factory=list)
    counts: UpstreamCounts = field(default_factory=lambda: UpstreamCounts(0))
    decided: bool = False
    attempt: TryRecord | None = None
    deadline: float | None = None
    last_seen: float | None = None
    first_poke: float | None = None  # engine time of a reschedule-mode sensor's first poke
    error: str | None = None  # why the task failed for good
    group: _Group | None = None  # a mapped node's instances, once expanded
    parent: _Task | None = None  # an instance of a mapped node: that node (``op`` is the node's)
    index: int | None = None  # an instance's item

    @property
    def id(self) -> str:
        return self.ti.task_id

    def sort_key(self) -> tuple[int, float, int]:
        return (-self.op.options.priority, -self.weight, self.order)


@dataclass(eq=False, slots=True)
class _Group:
    """The instances of one mapped node (``fetch[0]``, ``fetch[1]``...) and counters over them (no scans)."""

    children: list[_Task] = field(default_factory=list)
    max_parallel: int | None = None
    active: int = 0  # instances dispatched and not yet released (for max_parallel)
    held: deque[_Task] = field(default_factory=deque)  # ready instances waiting for max_parallel
    done: int = 0  # instances decided for good
    failed: list[_Task] = field(default_factory=list)
    skipped: int = 0
    items: dict[str, list[EncodedResult]] = field(default_factory=dict)  # upstream id -> each instance's item
    closed: bool = False  # the node is decided: instance outcomes no longer count


class RunEngine:
    """Runs one pipeline run with one executor, writing every state change to the store."""

    def __init__(
        self,
        pipeline: Pipeline,
        store: Store,
        executor: Executor,
        *,
        executor_name: str = "",
        pools: Mapping[str, int | PoolSetting] | None = None,
        concurrency: int | None = None,
        clock: Clock | None = None,
        listener: RunListener | None = None,
        logs_dir: Path | None = None,
        results_url: str | None = None,
        project_dir: str | None = None,
        hub: ExecutorHub | None = None,
        admission: Admission | None = None,
        owner: str | None = None,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        heartbeat_timeout: float | None = None,
        durations: Mapping[str, float] | None = None,
        priority_policy: str = "critical_path",
        alerter: Alerter | None = None,
        rng: random.Random | None = None,
        use_cache: bool = True,
    ) -> None:
        from headwater.store.leases import new_owner_id

        self.pipeline = pipeline
        self.store = store
        self.executor = executor
        self.executor_name = executor_name or executor.name
        limits = [c for c in (concurrency, executor.capacity) if c]
        self.capacity = min(limits) if limits else None
        self.clock = clock or SystemClock()
        self.listener = listener or NullListener()
        self.logs_dir = logs_dir
        self.results_url = results_url
        self.project_dir = project_dir
        self.owner = owner or new_owner_id()
        self.shared_hub = hub is not None
        self.hub = hub or ExecutorHub(executor)
        self.admission = admission or Admission(
            store=store, owner=self.owner, capacity=self.capacity, pools=pool_limits(pools or {})
        )
        self.lease_ttl = lease_ttl
        self.heartbeat_timeout = heartbeat_timeout
        self.durations = dict(durations or {})
        self.priority_policy = priority_policy
        self.alerter = alerter
        self.rng = rng or random.Random()  # noqa: S311 - retry jitter, not cryptography
        #: False (``headwater run --no-cache``): cached tasks run even when a stored result exists.
        self.use_cache = use_cache
        self._runs: dict[str, _Run] = {}
        check_pools(pipeline, {name: limit.slots for name, limit in self.admission.pools.items()})

    # -- creating and resuming ---------------------------------------------------------
    def create_run(
        self,
        *,
        params: Mapping[str, object] | None = None,
        logical_date: datetime | None = None,
        run_id: str | None = None,
        trigger: str = "manual",
        leased: bool = True,
        partition_key: str | None = None,
    ) -> RunRecord:
        """Record a new run with every task ``scheduled`` (one transaction).

        With ``leased`` (the default) this engine holds the run's lease and drives it
        with :meth:`run`; without, the run waits, queued, for a scheduler to take it.
        ``partition_key`` is ``ctx.partition``; checked against the pipeline's partitioned
        assets, and for time partitions the run's data interval is the partition's window.
        """
        now = self.clock.now()
        interval = manual_interval(self.pipeline, logical_date, now)
        date = interval.start if self.pipeline.cron else interval.end
        if partition_key is not None:
            from headwater.engine.asset_runs import run_partition_interval

            window = run_partition_interval(self.pipeline, partition_key)
            if window is not None:
                interval, date = window, window.start
        merged = resolve_params(self.pipeline, params or {})
        record = RunRecord(
            run_id=run_id or new_run_id(self.pipeline.id, date, partition_key),
            pipeline_id=self.pipeline.id,
            pipeline_file=self.pipeline.file,
            state=RunState.QUEUED,
            logical_date=date,
            interval_start=interval.start,
            interval_end=interval.end,
            params=merged,
            trigger=trigger,
            executor=self.executor_name,
            created_at=datetime.fromtimestamp(now, UTC),
            lease_owner=self.owner if leased else None,
            lease_epoch=1 if leased else 0,
            lease_expires_at=to_datetime(now + self.lease_ttl) if leased else None,
            partition_key=partition_key,
        )
        self.store.create_run(record, new_task_instances(self.pipeline, record.run_id))
        return record

    def run(self, record: RunRecord, *, resumed: bool = False, lease: Lease | None = None) -> RunSummary:
        """Drive ``record`` to completion and return its summary.

        ``lease`` is the lease this process holds on the run. Without one, a new run
        (created by :meth:`create_run`) is driven under the lease it was created with,
        and a resumed run's lease is taken first (UsageError if a live process holds it).
        """
        if lease is None:
            lease = self._take_lease(record, resumed)
        run = _Run(self, record, resumed, lease)
        self._runs[record.run_id] = run
        try:
            return run.execute()
        finally:
            self._runs.pop(record.run_id, None)

    def request_stop(self, *, drain: bool) -> None:
        """Ask every run this engine drives to stop (from any thread).

        With ``drain``, running tries may finish but nothing new starts; without,
        running tries are stopped and handed back. Either way the run stays
        ``running`` in the store, its lease is given back, and another scheduler
        (or the next start) resumes it.
        """
        for run in list(self._runs.values()):
            run.stop(drain=drain)

    def _take_lease(self, record: RunRecord, resumed: bool) -> Lease:
        from headwater.store.leases import take

        if not resumed and record.lease_owner == self.owner:
            return Lease(record.run_id, self.owner, record.lease_epoch, self.lease_ttl)
        lease = take(self.store, record.run_id, self.owner, now=self.clock.now(), ttl=self.lease_ttl)
        if lease is None:
            current = self.store.get_run(record.run_id)
            holder = current.lease_owner if current else "another process"
            expires = current.lease_expires_at if current else None
            until = expires.isoformat(timespec="seconds") if expires else "?"
            raise UsageError(
                f"run {record.run_id} is being driven by {holder} (lease until {until}); "
                "stop that process first, or wait for its lease to expire"
            )
        return lease


def new_task_instances(pipeline: Pipeline, run_id: str) -> list[TaskInstanceRecord]:
    """Every task of ``pipeline`` as a ``scheduled`` task instance of run ``run_id``."""
    return [
        TaskInstanceRecord(
            run_id=run_id,
            task_id=op.task_id,
            pipeline_id=pipeline.id,
            state=TaskState.SCHEDULED,
            max_tries=op.options.max_tries,
            priority=op.options.priority,
            pool=op.options.pool,
        )
        for op in pipeline
    ]


def check_pools(pipeline: Pipeline, pools: Mapping[str, int]) -> None:
    """Raise DefinitionError if a task names an undefined pool or needs more slots than it has."""
    for op in pipeline.tasks.values():
        pool = op.options.pool
        if pool is None:
            continue
        if pool not in pools:
            known = ", ".join(sorted(pools)) or "none"
            raise DefinitionError(
                f"task '{op.task_id}' uses pool {pool!r}, which is not defined "
                f"(add it under [pools] in headwater.toml; defined pools: {known})",
                pipeline=pipeline.id,
                file=pipeline.file,
                tasks=[op.task_id],
            )
        if op.options.pool_slots > pools[pool]:
            raise DefinitionError(
                f"task '{op.task_id}' needs {op.options.pool_slots} slots of pool {pool!r}, "
                f"which has only {pools[pool]}",
                pipeline=pipeline.id,
                file=pipeline.file,
                tasks=[op.task_id],
            )


def resolve_params(pipeline: Pipeline, given: Mapping[str, object]) -> dict[str, object]:
    """Declared params with their defaults, overridden by ``given`` (strings coerced to the default's type)."""
    unknown = sorted(set(given) - set(pipeline.params))
    if unknown:
        known = ", ".join(sorted(pipeline.params)) or "none"
        raise UsageError(f"pipeline '{pipeline.id}' has no param(s) {', '.join(unknown)} (declared params: {known})")
    merged = dict(pipeline.params)
    for name, value in given.items():
        default = pipeline.params[name]
        if isinstance(value, str) and default is not None and not isinstance(default, str):
            value = _coerce(name, value, default)
        merged[name] = value
    return merged


def _coerce(name: str, value: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            lowered = value.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return lowered in ("true", "1", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise UsageError(f"param {name!r}: expected a {type(default).__name__}, got {value!r}") from None
    return value


class _Run:
    """One execution of the engine loop over one run."""

    def __init__(self, engine: RunEngine, record: RunRecord, resumed: bool, lease: Lease) -> None:
        self.e = engine
        self.record = record
        self.resumed = resumed
        self.lease = lease
        self.lane = record.lane
        self.events: queue.SimpleQueue[TaskEvent] = queue.SimpleQueue()
        self.tasks: dict[str, _Task] = {}
        self.ready: list[tuple[tuple[int, float, int], _Task]] = []
        self.parked: list[tuple[tuple[int, float, int], _Task]] = []
        self.inflight: dict[TaskKey, _Task] = {}
        self.timers: list[tuple[float, int, str, _Task, int]] = []
        self._seq = itertools.count()
        self._order = itertools.count()  # the order of tasks created while running (mapped instances)
        self._fifo = itertools.count()
        self.results: dict[str, EncodedResult] = {}
        self.remaining = 0
        self._stop: str | None = None  # None, "drain" or "now"
        # the pending group commit
        self.dirty: dict[str, _Task] = {}
        self.new_instances: dict[str, _Task] = {}  # instances of mapped nodes not inserted yet
        self.new_tries: dict[tuple[str, int], TryRecord] = {}
        self.changed_tries: dict[tuple[str, int], TryRecord] = {}
        self.new_results: list[tuple[str, str, str, str]] = []
        self.released: list[tuple[str, str, int]] = []
        self.outcomes: list[tuple[_Task, bool, str | None]] = []  # tasks ended for good (circuit breakers)
        self.alerts: list[Alert] = []  # sent once the state they report is committed
        self.open_breakers: dict[str, BreakerInfo] = {}
        self.notices: list[tuple[str, str, int, str | None]] = []
        self.assets = RunAssets(engine.store, engine.pipeline, record, resumed=resumed)
        self.started_at = engine.clock.now()
        self.next_renewal = self.started_at + lease.ttl / 3
        self.next_zombie_check: float | None = None

    def stop(self, *, drain: bool) -> None:
        if self._stop != "now":
            self._stop = "drain" if drain else "now"
        self.e.hub.wake(self.record.run_id)

    # -- setup -----------------------------------------------------------------------
    def _build(self) -> None:
        pipeline = self.e.pipeline
        order = pipeline.order
        known = [d for d in self.e.durations.values() if d > 0]
        typical = sorted(known)[len(known) // 2] if known else 1.0
        weights = longest_paths(
            order, pipeline.upstream, {t: self.e.durations.get(t, typical) or typical for t in order}
        )
        existing: dict[str, TaskInstanceRecord] = {}
        if self.resumed:
            existing = {ti.task_id: ti for ti in self.e.store.task_instances(self.record.run_id)}
        for i, task_id in enumerate(order):
            op = pipeline.tasks[task_id]
            ti = existing.get(task_id) or TaskInstanceRecord(
                run_id=self.record.run_id,
                task_id=task_id,
                pipeline_id=pipeline.id,
                state=TaskState.SCHEDULED,
                max_tries=op.options.max_tries,
                priority=op.options.priority,
                pool=op.options.pool,
            )
            self.tasks[task_id] = _Task(op=op, ti=ti, order=i, weight=weights[task_id])
        for task_id, task in self.tasks.items():
            for up_id in sorted(pipeline.upstream[task_id], key=lambda u: self.tasks[u].order):
                up = self.tasks[up_id]
                task.ups.append(up)
                up.downs.append(task)
            task.counts = UpstreamCounts(total=len(task.ups))
        self._order = itertools.count(len(order))
        if self.resumed:
            self._rebuild_groups(existing)
            self._prepare_resume(existing)
            for task in self.tasks.values():
                if task.parent is not None:
                    task.decided = True  # an instance runs when its node does, never by its own upstream
        if any(task.op.options.circuit_breaker for task in self.tasks.values()):
            from headwater.store.breakers import open_breakers

            self.open_breakers = open_breakers(self.e.store, pipeline.id)

    def _prepare_resume(self, existing: Mapping[str, TaskInstanceRecord]) -> None:
        """Keep what succeeded; give every other task a fresh start (interrupted tries are closed)."""
        from headwater.store.pools import release_run

        release_run(self.e.store, self.record.run_id)  # slots held by the previous driver's tries
        now = self.e.clock.now()
        open_tries = {
            (tr.task_id, tr.try_number): tr
            for tr in self.e.store.tries(self.record.run_id)
            if tr.state in (TaskState.QUEUED, TaskState.RUNNING)
        }
        for tr in open_tries.values():
            tr.state = TaskState.FAILED
            tr.ended_at = now
            tr.error = INTERRUPTED
            if tr.started_at is not None:
                tr.duration = now - tr.started_at
            self.changed_tries[(tr.task_id, tr.try_number)] = tr
        stored = self.e.store.results(self.record.run_id)
        for task in self.tasks.values():
            if task.id not in existing:
                continue  # the definition gained a task since the crash: it starts fresh
            if task.ti.state == TaskState.SUCCESS:
                task.decided = True  # resuming never re-runs what succeeded
                if task.id in stored:
                    self.results[task.id] = EncodedResult(*stored[task.id])
                continue
            if task.ti.state in _TERMINAL and task.ti.state != TaskState.SUCCESS:
                pass  # decided again below from its upstreams (a failure may be retried on resume)
            task.ti.state = TaskState.SCHEDULED
            task.ti.next_try_at = None
            task.ti.ended_at = None
            task.ti.duration = None
            task.ti.max_tries = task.ti.try_number + task.op.options.max_tries
            self.dirty[task.id] = task

    # -- mapped tasks ------------------------------------------------------------------
    def _instance(self, node: _Task, index: int, ti: TaskInstanceRecord | None = None) -> _Task:
        """The working state of instance ``index`` of mapped ``node`` (a new ``scheduled`` record unless given)."""
        options = node.op.options
        ti = ti or TaskInstanceRecord(
            run_id=self.record.run_id,
            task_id=instance_id(node.id, index),
            pipeline_id=self.record.pipeline_id,
            state=TaskState.SCHEDULED,
            max_tries=options.max_tries,
            priority=options.priority,
            pool=options.pool,
        )
        child = _Task(
            op=node.op,
            ti=ti,
            order=next(self._order),
            weight=node.weight,
            ups=node.ups,  # an instance receives its node's inputs
            decided=True,
            parent=node,
            index=index,
        )
        self.tasks[child.id] = child
        return child

    def _rebuild_groups(self, existing: Mapping[str, TaskInstanceRecord]) -> None:
        """Resuming: a mapped node keeps the instances it was expanded into (never re-expanded to another length)."""
        found: dict[str, dict[int, TaskInstanceRecord]] = {}
        for task_id, ti in existing.items():
            parsed = parse_instance_id(task_id)
            if parsed is None:
                continue
            node = self.tasks.get(parsed[0])
            if node is not None and isinstance(node.op, MappedOperator):
                found.setdefault(parsed[0], {})[parsed[1]] = ti
        for node_id, records in found.items():
            node = self.tasks[node_id]
            assert isinstance(node.op, MappedOperator)
            if node.ti.state == TaskState.SUCCESS:
                continue  # kept with its gathered result; its (succeeded or skipped) instances are not touched
            group = node.group = _Group(max_parallel=node.op.max_parallel)
            for index in range(max(records) + 1):
                child = self._instance(node, index, records.get(index))
                if index not in records:  # never happens: instances are inserted in one transaction
                    self.new_instances[child.id] = child
                group.children.append(child)
                if child.ti.state == TaskState.SUCCESS:
                    group.done += 1

    def _count_items(self, task_id: str) -> int:
        """How many items the result of upstream ``task_id`` holds (MapError unless it is a list)."""
        from headwater.results import decode_result

        encoded = self.results.get(task_id)
        if encoded is None:
            state = self.tasks[task_id].ti.state
            if state == TaskState.SUCCESS:
                raise MapError(f"the result of '{task_id}' is None, not a list")
            raise MapError(f"'{task_id}' has no result to map over (it is {state})")
        try:
            if encoded.encoding == "list":  # a gathered result: count its parts without decoding them
                return len(json.loads(encoded.value))
            value = decode_result(encoded, store_url=self.e.results_url)
        except Exception as exc:  # a result store that cannot be read
            raise MapError(f"cannot read the result of '{task_id}': {type(exc).__name__}: {exc}") from None
        if not isinstance(value, list | tuple):
            kind = "None" if value is None else f"a {type(value).__name__}"
            raise MapError(f"the result of '{task_id}' is {kind}, not a list")
        return len(value)

    def _expand(self, node: _Task) -> None:
        """A mapped node became ready: create its instances (or, resuming, reuse them) and make them ready."""
        assert isinstance(node.op, MappedOperator)
        breaker = self.open_breakers.get(node.id)
        if breaker is not None:
            self._circuit_open(node, breaker)
            return
        now = self.e.clock.now()
        group = node.group
        if group is None:
            try:
                count = node.op.instance_count(self._count_items)
            except MapError as exc:
                error = f"cannot map '{node.id}': {exc}"
                self._start_group_try(node, now, None)
                self._close_group_try(node, TaskState.FAILED, error)
                self._terminal(node, TaskState.FAILED, error)
                self._alert("failure", node, error, reason="its mapped arguments are invalid")
                return
            group = node.group = _Group(max_parallel=node.op.max_parallel)
            for index in range(count):
                child = self._instance(node, index)
                group.children.append(child)
                self.new_instances[child.id] = child
            self.remaining += count
        node.ti.state = TaskState.RUNNING
        if node.ti.started_at is None:
            node.ti.started_at = now
        self._start_group_try(node, now, f"mapped over {len(group.children)} items")
        self._mark(node)
        if group.done == len(group.children):  # an empty map, or every instance succeeded before a resume
            self._group_finished(node)
            return
        self._slice(node)
        for child in group.children:
            if child.ti.state not in _TERMINAL:
                self._make_ready(child)

    def _slice(self, node: _Task) -> None:
        """Split mapped upstream results stored inline into one item per instance, so that no instance is sent
        (and decodes) the whole list. A result in the result store is sent whole: each instance picks its item."""
        group = node.group
        assert group is not None and isinstance(node.op, MappedOperator)
        for up_id in node.op.sliced_upstream():
            encoded = self.results.get(up_id)
            if encoded is None:
                continue
            if encoded.encoding == "list":  # a gathered result: its parts are the items, still encoded
                parts = [EncodedResult(e, v) for e, v in json.loads(encoded.value)]
            elif encoded.encoding == "json":
                value = json.loads(encoded.value)
                if not isinstance(value, list):
                    continue
                parts = [EncodedResult("json", json.dumps(item, separators=(",", ":"))) for item in value]
            else:
                continue
            if len(parts) == len(group.children):
                group.items[up_id] = parts

    def _instance_inputs(self, task: _Task, inputs: dict[str, EncodedResult]) -> dict[str, EncodedResult]:
        """An instance's inputs: its node's, with each sliced upstream result replaced by the instance's item."""
        assert task.parent is not None and task.parent.group is not None and task.index is not None
        for up_id, parts in task.parent.group.items.items():
            inputs.pop(up_id, None)
            inputs[instance_id(up_id, task.index)] = parts[task.index]
        return inputs

    def _start_group_try(self, node: _Task, now: float, note: str | None) -> None:
        """A mapped node's own try: it spans its instances (its error says which of them failed)."""
        ti = node.ti
        ti.try_number += 1
        node.attempt = TryRecord(
            run_id=self.record.run_id,
            task_id=node.id,
            try_number=ti.try_number,
            pipeline_id=self.record.pipeline_id,
            state=TaskState.RUNNING,
            queued_at=now,
            started_at=now,
            note=note,
        )
        self.new_tries[(node.id, ti.try_number)] = node.attempt

    def _close_group_try(self, node: _Task, state: TaskState, error: str | None) -> None:
        attempt = node.attempt
        if attempt is None or attempt.ended_at is not None:
            return
        now = self.e.clock.now()
        attempt.state = state
        attempt.ended_at = now
        attempt.duration = max(now - (attempt.started_at or now), 0.0)
        attempt.error = error
        self._touch_try(attempt)

    def _instance_done(self, child: _Task, state: TaskState) -> None:
        """An instance is decided for good: count it; the last one decides its node."""
        node = child.parent
        assert node is not None and node.group is not None
        group = node.group
        if group.closed:
            return
        group.done += 1
        if state in _FAILED_LIKE:
            group.failed.append(child)
        elif state == TaskState.SKIPPED:
            group.skipped += 1
        if group.done == len(group.children):
            self._group_finished(node)

    def _group_finished(self, node: _Task) -> None:
        """Every instance is decided: the node succeeds with their gathered results, or fails."""
        from headwater.results import gather_results

        group = node.group
        assert group is not None
        group.closed = True
        if group.failed:
            first = group.failed[0]
            detail = f"{first.id}: {(first.error or 'failed').splitlines()[0][:300]}"
            more = len(group.failed) - 1
            error = f"{len(group.failed)} of {len(group.children)} instances failed ({detail}"
            error += f"; and {more} more)" if more else ")"
            self._close_group_try(node, TaskState.FAILED, error)
            self._terminal(node, TaskState.FAILED, error)
            self._alert("failure", node, error, reason="an instance failed for good")
            return
        result = gather_results([self.results.get(child.id, _NULL_RESULT) for child in group.children])
        self.results[node.id] = result
        self.new_results.append((self.record.run_id, node.id, result.encoding, result.value))
        self._close_group_try(node, TaskState.SUCCESS, None)
        self._terminal(node, TaskState.SUCCESS)

    def _abandon_group(self, node: _Task, state: TaskState) -> None:
        """A mapped node was decided without running its instances (resumed, then upstream failed): so are they."""
        group = node.group
        if group is None or group.closed:
            return
        group.closed = True
        child_state = TaskState.SKIPPED if state == TaskState.SKIPPED else TaskState.UPSTREAM_FAILED
        for child in group.children:
            if child.ti.state not in _TERMINAL:
                self._terminal(child, child_state)

    def _hold(self, child: _Task) -> bool:
        """True if ``child``'s node already runs ``max_parallel`` instances (the child then waits in its group)."""
        assert child.parent is not None and child.parent.group is not None
        group = child.parent.group
        return group.max_parallel is not None and group.active >= group.max_parallel

    # -- the loop --------------------------------------------------------------------
    def execute(self) -> RunSummary:
        e = self.e
        self.events = e.hub.attach(self.record.run_id)
        try:
            self._build()
            e.listener.run_started(self.record.run_id, self.record.pipeline_id, list(self.tasks), self.resumed)
            e.hub.start()
            return self._loop()
        except LeaseLost:
            for key in list(self.inflight):  # another process drives the run now: stop what we started
                e.executor.cancel(key)
                e.admission.finished(self.lane, wake=False)
            raise
        finally:
            e.admission.unsubscribe(self.record.run_id)
            e.admission.pass_on()  # a wake-up this run received but no longer needs goes on
            e.hub.detach(self.record.run_id, self.events)
            if not e.shared_hub:
                e.hub.shutdown(wait=False)

    def _loop(self) -> RunSummary:
        e = self.e
        first_start = to_timestamp(self.record.started_at) if self.resumed else None
        run_deadline = None if e.pipeline.timeout is None else (first_start or self.started_at) + e.pipeline.timeout
        self.remaining = sum(1 for t in self.tasks.values() if t.ti.state != TaskState.SUCCESS)
        last_health_check = self.started_at
        self._flush(run_state=(RunState.RUNNING, None if self.resumed else self.started_at, None))
        for task in self.tasks.values():  # dependency order
            if task.ti.state == TaskState.SUCCESS:
                self._count_done(task)
        for task in list(self.tasks.values()):  # a snapshot: a mapped node adds its instances as it expands
            if not task.decided and task.ti.state != TaskState.SUCCESS:
                self._evaluate(task)
        while self.remaining:
            if self._stop is None:
                self._dispatch()
            elif self._stop == "now" or not self.inflight:
                return self._hand_back()
            if not self.remaining:
                break
            timeout = self._next_timer_in(run_deadline)
            blocked = bool(self.ready or self.parked) and self._stop is None
            idle = not self.inflight and not blocked
            if idle and timeout is None:
                raise RuntimeError(
                    f"run {self.record.run_id} cannot make progress: "
                    f"{', '.join(t.id for t in self.tasks.values() if t.ti.state not in _TERMINAL)}"
                )
            if not idle:
                timeout = HEALTH_CHECK_INTERVAL if timeout is None else min(timeout, HEALTH_CHECK_INTERVAL)
            event = e.clock.wait(self.events, timeout, idle=idle)
            while event is not None:
                self._apply(event)
                try:
                    event = self.events.get_nowait()
                except queue.Empty:
                    event = None
            now = e.clock.now()
            if run_deadline is not None and now >= run_deadline:
                self._run_timed_out()
                break
            self._fire_timers(now)
            if self.next_zombie_check is not None and now >= self.next_zombie_check:
                self._find_zombies(now)
            if self.parked and self._stop is None:
                self._unpark()
            if now >= self.next_renewal:
                self._flush(force=True)
            if self.inflight and now - last_health_check >= HEALTH_CHECK_INTERVAL:
                last_health_check = now
                self._check_health()
        return self._finish()

    def _next_timer_in(self, run_deadline: float | None) -> float | None:
        due = [t[0] for t in self.timers[:1]]
        if run_deadline is not None:
            due.append(run_deadline)
        if self.inflight or self.ready or self.parked:
            due.append(self.next_renewal)  # only a run that is waiting on others needs its lease renewed
        if self.next_zombie_check is not None:
            due.append(self.next_zombie_check)
        if self.parked:
            due.append(self.e.clock.now() + POOL_RECHECK)
        if not due:
            return None
        return max(min(due) - self.e.clock.now(), 0.0)

    # -- deciding ----------------------------------------------------------------------
    def _count_done(self, task: _Task) -> None:
        state = task.ti.state
        for down in task.downs:
            if state == TaskState.SUCCESS:
                down.counts.success += 1
            elif state in _FAILED_LIKE:
                down.counts.failed += 1
            else:
                down.counts.skipped += 1

    def _evaluate(self, task: _Task) -> None:
        decision = decide(task.op.options.trigger_rule, task.counts)
        if decision is Decision.WAIT:
            return
        task.decided = True
        if decision is Decision.RUN:
            if self._asset_ready(task):
                self._make_ready(task)
        elif decision is Decision.SKIP:
            self._terminal(task, TaskState.SKIPPED)
        else:
            self._terminal(task, TaskState.UPSTREAM_FAILED)

    def _asset_ready(self, task: _Task) -> bool:
        """Load an asset task's upstream values not produced by this run; fail it (no retry) if one is missing."""
        if task.parent is not None:
            return True
        try:
            self.assets.prepare(task.op)
        except AssetRunError as exc:
            self._terminal(task, TaskState.FAILED, str(exc), ran=False)
            self._alert("failure", task, str(exc), reason="upstream asset not materialized")
            return False
        return True

    def _make_ready(self, task: _Task) -> None:
        if task.parent is None and isinstance(task.op, MappedOperator):
            self._expand(task)  # the node runs as its instances
            return
        if self.e.priority_policy == "fifo":
            key = (-task.op.options.priority, float(next(self._fifo)), task.order)
        else:
            key = task.sort_key()
        heapq.heappush(self.ready, (key, task))

    def _terminal(self, task: _Task, state: TaskState, error: str | None = None, *, ran: bool = True) -> None:
        """Decide ``task`` for good. ``ran``: it was tried (so its outcome counts for its circuit breaker)."""
        now = self.e.clock.now()
        task.decided = True
        task.error = error
        task.ti.state = state
        task.ti.next_try_at = None
        task.ti.ended_at = now
        if task.ti.started_at is not None:
            task.ti.duration = now - task.ti.started_at
        self._mark(task, error)
        if state == TaskState.FAILED:
            self.assets.failed(task.op, task.id)  # an asset's partition is marked failed in the same commit
        ran = ran and task.parent is None  # a mapped node's breaker counts the node, not each instance
        if ran and state in (TaskState.SUCCESS, TaskState.FAILED) and task.op.options.circuit_breaker:
            self.outcomes.append((task, state == TaskState.SUCCESS, error))
        self.remaining -= 1
        if task.parent is not None:
            self._instance_done(task, state)
        elif task.group is not None and state != TaskState.SUCCESS:
            self._close_group_try(task, state, error)
            self._abandon_group(task, state)
        self._count_done(task)
        for down in task.downs:
            if not down.decided:
                self._evaluate(down)

    def _mark(self, task: _Task, error: str | None = None) -> None:
        self.dirty[task.id] = task
        self.notices.append((task.id, task.ti.state, task.ti.try_number, error))

    # -- dispatching -------------------------------------------------------------------
    def _dispatch(self) -> None:
        submissions: list[TaskSubmission] = []
        pooled: list[tuple[tuple[int, float, int], _Task]] = []
        admission = self.e.admission
        now = self.e.clock.now()
        blocked = False
        while self.ready:
            head = self.ready[0][1]
            if head.parent is not None and self._hold(head):
                heapq.heappop(self.ready)
                head.parent.group.held.append(head)  # type: ignore[union-attr]
                continue
            if not admission.try_start(self.lane):
                blocked = True
                admission.subscribe(self.record.run_id, self._wake)
                break
            item = heapq.heappop(self.ready)
            if item[1].parent is not None:
                item[1].parent.group.active += 1  # type: ignore[union-attr]
            breaker = self.open_breakers.get(item[1].id)
            if breaker is not None:
                admission.finished(self.lane, wake=False)
                self._circuit_open(item[1], breaker)
                continue
            if item[1].op.options.pool is not None:
                pooled.append(item)
            else:
                submissions.append(self._queue(item[1], now))
        if pooled:
            requests = [
                SlotRequest(
                    self.record.run_id,
                    task.id,
                    task.ti.try_number + 1,
                    task.op.options.pool or "",
                    task.op.options.pool_slots,
                    self.lane,
                )
                for _, task in pooled
            ]
            granted = {r.task_id for r in admission.acquire_slots(requests, now)}
            for item in pooled:
                if item[1].id in granted:
                    submissions.append(self._queue(item[1], now))
                else:
                    admission.finished(self.lane, wake=False)
                    if item[1].parent is not None:
                        item[1].parent.group.active -= 1  # type: ignore[union-attr]
                    heapq.heappush(self.parked, item)
        if self.parked:
            admission.subscribe(self.record.run_id, self._wake, pools=True)
        if not blocked:
            admission.pass_on()  # capacity this run did not need goes to the next waiting run
        self._flush()
        for submission in submissions:
            self.e.executor.submit(submission)

    def _wake(self) -> None:
        self.e.hub.wake(self.record.run_id)

    def _unpark(self) -> None:
        self.e.admission.unsubscribe(self.record.run_id)  # the next dispatch subscribes again if still waiting
        while self.parked:
            heapq.heappush(self.ready, heapq.heappop(self.parked))

    def _queue(self, task: _Task, now: float) -> TaskSubmission:
        ti = task.ti
        ti.try_number += 1
        ti.state = TaskState.QUEUED
        ti.next_try_at = None
        key = TaskKey(self.record.run_id, task.id, ti.try_number)
        log_path = None
        if self.e.logs_dir is not None:
            log_path = str(
                self.e.logs_dir / self.record.pipeline_id / self.record.run_id / f"{task.id}.{ti.try_number}.log"
            )
        task.attempt = TryRecord(
            run_id=self.record.run_id,
            task_id=task.id,
            try_number=ti.try_number,
            pipeline_id=self.record.pipeline_id,
            state=TaskState.QUEUED,
            queued_at=now,
            log_path=log_path,
        )
        task.last_seen = None
        self.new_tries[(task.id, ti.try_number)] = task.attempt
        self._mark(task)
        self.inflight[key] = task
        rec = self.record
        inputs = {
            **{up.id: self.results[up.id] for up in task.ups if up.id in self.results},
            **self.assets.inputs.get((task.parent or task).id, {}),  # upstream assets' values read from the store
        }
        if task.parent is not None:
            inputs = self._instance_inputs(task, inputs)
        return TaskSubmission(
            key=key,
            pipeline_id=rec.pipeline_id,
            pipeline_file=rec.pipeline_file,
            logical_date=rec.logical_date.isoformat(),
            interval_start=rec.interval_start.isoformat(),
            interval_end=rec.interval_end.isoformat(),
            params=rec.params,  # type: ignore[arg-type]
            inputs=inputs,
            partition=self.assets.partition_of(task.op),
            timeout=task.op.options.timeout,
            log_path=log_path,
            results_url=self.e.results_url,
            heartbeat_interval=None if self.e.heartbeat_timeout is None else self.e.heartbeat_timeout / 4,
            use_cache=self.e.use_cache,
            map_index=task.index,
            lane=self.lane,
            project_dir=self.e.project_dir,
        )

    def _release(self, task: _Task, key: TaskKey) -> None:
        del self.inflight[key]
        task.deadline = None
        self.e.admission.finished(self.lane)
        if task.parent is not None:  # one instance fewer running: one held back by max_parallel may go
            group = task.parent.group
            assert group is not None
            group.active -= 1
            if group.held and not self._hold(task):
                self._make_ready(group.held.popleft())
        if task.op.options.pool is not None:
            self.released.append((key.run_id, key.task_id, key.try_number))

    # -- events ------------------------------------------------------------------------
    def _apply(self, event: TaskEvent) -> None:
        task = self.inflight.get(event.key)
        if task is None or task.attempt is None or task.attempt.try_number != event.key.try_number:
            return  # a late event from a try we already gave up on (or a wake-up): never applied
        attempt = task.attempt
        now = self.e.clock.now()
        task.last_seen = now
        if event.kind is EventKind.HEARTBEAT:
            attempt.heartbeat_at = event.at
            self._touch_try(attempt)
            return
        if event.kind is EventKind.STARTED:
            task.ti.state = TaskState.RUNNING
            attempt.state = TaskState.RUNNING
            attempt.started_at = event.at
            attempt.heartbeat_at = event.at
            if task.ti.started_at is None:
                task.ti.started_at = now  # the engine's clock: task instance times and budgets use it
            self._touch_try(attempt)
            self._mark(task)
            timeout = task.op.options.timeout
            if timeout is not None:
                task.deadline = now + timeout
                self._add_timer(task.deadline, "timeout", task)
            watch = self.e.heartbeat_timeout is not None and self.e.executor.heartbeats
            if watch and self.next_zombie_check is None:
                assert self.e.heartbeat_timeout is not None
                self.next_zombie_check = now + self.e.heartbeat_timeout / 4
            return
        self._release(task, event.key)
        if event.kind is EventKind.RESCHEDULED:
            # The worker's clock says when; the delay is what counts on this engine's clock.
            delay = max((event.reschedule_at or event.at) - event.at, 0.0)
            self._rescheduled(task, attempt, event, now + delay)
            return
        self._close_try(attempt, event)
        if event.kind is EventKind.SUCCEEDED:
            if event.result is not None:
                self.results[task.id] = event.result
                if event.result.value != "null" or event.result.encoding != "json":
                    self.new_results.append((self.record.run_id, task.id, event.result.encoding, event.result.value))
            self.assets.succeeded(task.op, task.id, event.result, event.metadata)  # recorded with the success
            self._terminal(task, TaskState.SUCCESS)
        elif event.kind is EventKind.SKIPPED:
            self._terminal(task, TaskState.SKIPPED, event.error)
        elif event.timed_out:  # the executor enforced the timeout: the task's policy for timeouts applies
            self._failed_timeout(task, event.error or "timed out")
        else:
            self._failed(task, event.error or "failed", event.retryable, event.error_type)

    def _close_try(self, attempt: TryRecord, event: TaskEvent) -> None:
        attempt.ended_at = event.at
        if attempt.started_at is not None:
            attempt.duration = max(event.at - attempt.started_at, 0.0)
        attempt.state = {
            EventKind.SUCCEEDED: TaskState.SUCCESS,
            EventKind.SKIPPED: TaskState.SKIPPED,
            EventKind.RESCHEDULED: TaskState.UP_FOR_RESCHEDULE,
        }.get(event.kind, TaskState.FAILED)
        attempt.error = event.error
        if event.note is not None:
            attempt.note = event.note  # e.g. "cache hit (key 3f2a9c1b, ...)": written with the try
        self._touch_try(attempt)

    def _touch_try(self, attempt: TryRecord) -> None:
        key = (attempt.task_id, attempt.try_number)
        if key not in self.new_tries:  # a try not yet inserted is written whole by the insert
            self.changed_tries[key] = attempt

    def _failed(self, task: _Task, error: str, retryable: bool, error_type: str | None = None) -> None:
        ti = task.ti
        options = task.op.options
        now = self.e.clock.now()
        decision = options.retry.plan(
            tries=ti.try_number - (ti.max_tries - options.max_tries),
            retryable=retryable,
            now=now,
            first_started_at=ti.started_at,
            error_type=error_type,
            rng=self.e.rng,
        )
        if decision.retry:
            ti.state = TaskState.UP_FOR_RETRY
            ti.next_try_at = now + decision.delay
            self._mark(task, error)
            self._add_timer(ti.next_try_at, "retry", task)
            self._alert("retry", task, error, max_tries=ti.max_tries, delay=decision.delay)
            return
        final = decision.final_error(error)
        self._terminal(task, TaskState.FAILED, final)
        self._alert("failure", task, final, reason=decision.reason)

    def _failed_timeout(self, task: _Task, error: str, error_type: str = "TimeoutError") -> None:
        """A try ran out of time: retried only if the task's ``retry_on`` covers TimeoutError."""
        self._failed(task, error, task.op.options.retry.is_retryable(TimeoutError()), error_type)

    def _alert(self, kind: str, task: _Task, error: str, **fields: Any) -> None:
        """Queue a ``retry`` or ``failure`` alert about ``task`` (sent once its state is committed)."""
        if self.e.alerter is None or task.parent is not None:
            return  # a mapped node alerts once, when it fails, not once per instance
        from headwater.engine.alerts import failure_alert, retry_alert

        build = retry_alert if kind == "retry" else failure_alert
        if kind != "retry":
            fields.setdefault("max_tries", task.ti.max_tries)
        self.alerts.append(
            build(
                pipeline_id=self.record.pipeline_id,
                run_id=self.record.run_id,
                task_id=task.id,
                try_number=task.ti.try_number,
                error=error,
                logical_date=self.record.logical_date,
                log_path=task.attempt.log_path if task.attempt else None,
                **fields,
            )
        )

    def _circuit_open(self, task: _Task, breaker: BreakerInfo) -> None:
        """The task's circuit breaker is open: fail it at once, without running it."""
        error = (
            f"circuit breaker open after {breaker.consecutive_failures} consecutive failed runs "
            f"(last error: {(breaker.last_error or '-')[:200]}); "
            f"close it with `headwater reset {self.record.pipeline_id} {task.id}`"
        )
        self._terminal(task, TaskState.FAILED, error, ran=False)  # not a new failure for the breaker
        self._alert("failure", task, error, reason="circuit breaker open")

    def _rescheduled(self, task: _Task, attempt: TryRecord, event: TaskEvent, at: float) -> None:
        """A sensor in reschedule mode found nothing: it waits without holding a slot, then pokes again."""
        ti = task.ti
        wait_timeout = getattr(task.op, "wait_timeout", None)
        now = self.e.clock.now()
        if task.first_poke is None:
            task.first_poke = task.last_seen or now
        if isinstance(wait_timeout, float) and at - task.first_poke > wait_timeout:
            error = f"SensorTimeout: condition not met within {wait_timeout:g}s"
            self._close_try(attempt, TaskEvent(key=event.key, kind=EventKind.FAILED, at=event.at, error=error))
            self._failed_timeout(task, error, "SensorTimeout")
            return
        self._close_try(attempt, event)
        ti.max_tries += 1  # a poke that found nothing is not a failed try
        ti.state = TaskState.UP_FOR_RESCHEDULE
        ti.next_try_at = max(at, now)
        self._mark(task)
        self._add_timer(ti.next_try_at, "retry", task)

    # -- timers ------------------------------------------------------------------------
    def _add_timer(self, at: float, kind: str, task: _Task) -> None:
        heapq.heappush(self.timers, (at, next(self._seq), kind, task, task.ti.try_number))

    def _fire_timers(self, now: float) -> None:
        while self.timers and self.timers[0][0] <= now:
            _, _, kind, task, try_number = heapq.heappop(self.timers)
            if try_number != task.ti.try_number:
                continue
            if kind == "retry" and task.ti.state in (TaskState.UP_FOR_RETRY, TaskState.UP_FOR_RESCHEDULE):
                task.ti.state = TaskState.SCHEDULED
                self._mark(task)
                self._make_ready(task)
            elif kind == "timeout" and task.deadline is not None and task.attempt is not None:
                self._time_out(task, now)

    def _time_out(self, task: _Task, now: float) -> None:
        attempt = task.attempt
        assert attempt is not None
        key = TaskKey(self.record.run_id, task.id, attempt.try_number)
        self.e.executor.cancel(key)
        self._release(task, key)
        timeout = task.op.options.timeout or 0.0
        error = f"timed out after {timeout:g}s (the try was stopped)"
        self._close_try(attempt, TaskEvent(key=key, kind=EventKind.FAILED, at=now, error=error))
        self._failed_timeout(task, error)

    def _find_zombies(self, now: float) -> None:
        """Fail (and retry) running tries whose worker stopped sending heartbeats."""
        limit = self.e.heartbeat_timeout
        assert limit is not None
        for key, task in list(self.inflight.items()):
            if task.ti.state != TaskState.RUNNING or task.last_seen is None or now - task.last_seen <= limit:
                continue
            self.e.executor.cancel(key)
            self._release(task, key)
            error = f"no heartbeat for {now - task.last_seen:.0f}s (limit {limit:g}s): the worker is presumed dead"
            if task.attempt is not None:
                self._close_try(task.attempt, TaskEvent(key=key, kind=EventKind.FAILED, at=now, error=error))
            self._failed(task, error, True)
        running = any(t.ti.state == TaskState.RUNNING for t in self.inflight.values())
        self.next_zombie_check = now + limit / 4 if running else None

    def _run_timed_out(self) -> None:
        now = self.e.clock.now()
        error = f"the run timed out after {self.e.pipeline.timeout:g}s"
        for key, task in list(self.inflight.items()):
            self.e.executor.cancel(key)
            self._release(task, key)
            if task.attempt is not None:
                self._close_try(task.attempt, TaskEvent(key=key, kind=EventKind.FAILED, at=now, error=error))
        for task in self.tasks.values():
            if task.ti.state in _TERMINAL:
                continue
            started = task.attempt is not None and task.ti.state in _ACTIVE
            state = TaskState.FAILED if started else TaskState.UPSTREAM_FAILED
            if task.group is not None:
                self._close_group_try(task, state, error)
            task.decided = True
            task.ti.state = state
            task.ti.ended_at = now
            self._mark(task, error)
            if state == TaskState.FAILED:
                self.assets.failed(task.op, task.id)
        self.remaining = 0

    def _check_health(self) -> None:
        health = self.e.executor.check_health()
        if health.healthy:
            return
        now = self.e.clock.now()
        for key, task in list(self.inflight.items()):
            self._release(task, key)
            error = f"executor unhealthy: {health.detail}"
            if task.attempt is not None:
                self._close_try(task.attempt, TaskEvent(key=key, kind=EventKind.FAILED, at=now, error=error))
            self._failed(task, error, True)

    def _hand_back(self) -> RunSummary:
        """Stop here without deciding the run: running tries are stopped and will run again."""
        from headwater.store.leases import release

        now = self.e.clock.now()
        for key, task in list(self.inflight.items()):
            self.e.executor.cancel(key)
            self._release(task, key)
            if task.attempt is not None:
                self._close_try(task.attempt, TaskEvent(key=key, kind=EventKind.FAILED, at=now, error=HANDED_BACK))
            task.ti.state = TaskState.SCHEDULED
            task.ti.max_tries += 1  # an interrupted try is not a failed one
            self._mark(task, HANDED_BACK)
        self._flush()
        release(self.e.store, self.lease)
        summary = self._summary(RunState.RUNNING, now)
        self.e.listener.run_finished(summary)
        return summary

    # -- writing -----------------------------------------------------------------------
    def _flush(self, run_state: tuple[str, float | None, float | None] | None = None, *, force: bool = False) -> None:
        pending = (
            self.dirty
            or self.new_instances
            or self.new_tries
            or self.changed_tries
            or self.new_results
            or self.released
        )
        asset_writes = self.assets.take_writes()  # materializations, partition states, lineage
        if not (force or pending or run_state or asset_writes):
            return
        now = self.e.clock.now()
        released = self.released
        outcomes, self.outcomes = self.outcomes, []
        transitions: list[object] = []
        self.e.store.write_batch(
            instances=[t.ti for t in self.dirty.values() if t.id not in self.new_instances],
            new_instances=[t.ti for t in self.new_instances.values()],
            new_tries=list(self.new_tries.values()),
            changed_tries=list(self.changed_tries.values()),
            results=self.new_results,
            run_state=None if run_state is None else (self.record.run_id, *run_state),
            released_slots=released,
            fence=self.lease,
            now=now,
            extra=(lambda conn: transitions.extend(self._record_outcomes(conn, outcomes, now))) if outcomes else None,
            assets=asset_writes,
        )
        if asset_writes is not None:
            self.assets.committed(asset_writes)
        self.next_renewal = now + self.lease.ttl / 3
        self.dirty.clear()
        self.new_instances.clear()
        self.new_tries.clear()
        self.changed_tries.clear()
        self.new_results = []
        self.released = []
        if released:
            self.e.admission.slots_released()
        notices, self.notices = self.notices, []
        for task_id, state, try_number, error in notices:
            self.e.listener.task_changed(task_id, state, try_number, error)
        alerter = self.e.alerter
        if alerter is not None:
            from headwater.engine.alerts import circuit_open_alert

            alerts, self.alerts = self.alerts, []
            alerts += [circuit_open_alert(tr, logical_date=self.record.logical_date) for tr in transitions]  # type: ignore[arg-type]
            for alert in alerts:
                alerter.send(alert)

    def _record_outcomes(
        self, conn: Connection, outcomes: list[tuple[_Task, bool, str | None]], now: float
    ) -> list[object]:
        from headwater.store.breakers import record_outcome

        transitions: list[object] = []
        for task, succeeded, error in outcomes:
            transition = record_outcome(
                conn,
                pipeline_id=self.record.pipeline_id,
                task_id=task.id,
                run_id=self.record.run_id,
                succeeded=succeeded,
                error=error,
                threshold=task.op.options.circuit_breaker,
                now=now,
            )
            if transition is not None:
                transitions.append(transition)
        return transitions

    def _finish(self) -> RunSummary:
        now = self.e.clock.now()
        failed = any(t.ti.state in _FAILED_LIKE for t in self.tasks.values())
        state = RunState.FAILED if failed else RunState.SUCCESS
        self._flush(run_state=(state, None, now))
        summary = self._summary(state, now)
        self.e.listener.run_finished(summary)
        return summary

    def _summary(self, state: str, now: float) -> RunSummary:
        run_started = to_timestamp(self.record.started_at) if self.resumed else self.started_at
        # A failed task's error is already in memory: why it failed for good, else its last try's.
        errors = {
            t.id: t.error or (t.attempt.error if t.attempt else None)
            for t in self.tasks.values()
            if t.ti.state == TaskState.FAILED
        }
        return RunSummary(
            run_id=self.record.run_id,
            pipeline_id=self.record.pipeline_id,
            state=state,
            duration=now - (run_started or self.started_at),
            tasks=[
                TaskSummary(
                    task_id=t.id,
                    state=t.ti.state,
                    tries=t.ti.try_number,
                    duration=t.ti.duration,
                    error=errors.get(t.id),
                    note=t.attempt.note if t.attempt is not None and t.ti.state == TaskState.SUCCESS else None,
                )
                for t in self.tasks.values()
            ],
        )


_TERMINAL = frozenset({TaskState.SUCCESS, TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.SKIPPED})
_ACTIVE = frozenset({TaskState.QUEUED, TaskState.RUNNING})
