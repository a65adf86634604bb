"""Deadlines: predict when a run will end, and notice runs that will miss or missed their deadline.

A pipeline's ``deadline`` (:class:`~headwater.model.deadline.Deadline`) says when
each run must have finished. A scheduled run's deadline counts from the end of
its data interval; any other run's (manual, triggered) from its creation.
Backfill runs have none.

:func:`estimate_remaining` is the prediction, a pure function: the heaviest
path through the tasks that have not finished yet, each weighted by its typical
duration. :class:`DeadlineWatch` applies it to the runs in the store, so any
scheduler (or several at once) can watch every run, whoever drives it.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from headwater.model.graph import critical_path
from headwater.model.states import TaskState

if TYPE_CHECKING:
    from headwater.engine.clock import Clock
    from headwater.model.pipeline import Pipeline
    from headwater.plugin.notifier import Alert
    from headwater.store.records import RunRecord, TaskInstanceRecord
    from headwater.store.repository import Store

log = logging.getLogger("headwater.deadlines")

#: The expected duration of a task nothing is known about (no task of its pipeline has history).
DEFAULT_DURATION = 1.0
#: A running task already past its typical duration is expected to need at least this much longer.
OVERRUN_REMAINING = 1.0

_FINISHED = frozenset({TaskState.SUCCESS, TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.SKIPPED})
_WAITING = frozenset({TaskState.UP_FOR_RETRY, TaskState.UP_FOR_RESCHEDULE})


@dataclass(frozen=True, slots=True)
class Estimate:
    """How long a run still needs (seconds), and the chain of tasks that decides it."""

    seconds: float
    path: tuple[str, ...]


def expected_durations(task_ids: Iterable[str], history: Mapping[str, float]) -> dict[str, float]:
    """Each task's expected duration: its typical one, else the median of the tasks that have one, else 1 s."""
    ids = list(task_ids)
    known = [history[t] for t in ids if t in history]
    fallback = statistics.median(known) if known else DEFAULT_DURATION
    return {t: history.get(t, fallback) for t in ids}


def estimate_remaining(
    order: Sequence[str],
    upstream: Mapping[str, set[str]],
    states: Mapping[str, str],
    durations: Mapping[str, float],
    *,
    elapsed: Mapping[str, float] | None = None,
    waits: Mapping[str, float] | None = None,
) -> Estimate:
    """The time the tasks of ``order`` that have not finished still need, along their critical path.

    ``states``: each task's state (a task missing from it has not started).
    ``durations``: each task's expected duration (see :func:`expected_durations`).
    A running task needs ``max(duration - elapsed[task], OVERRUN_REMAINING)``; a
    task waiting to retry (or to poke again) needs ``waits[task]`` plus its
    duration; any other unfinished task its duration. Finished tasks weigh nothing.
    """
    elapsed = elapsed or {}
    waits = waits or {}
    remaining = [t for t in order if states.get(t, TaskState.SCHEDULED) not in _FINISHED]
    if not remaining:
        return Estimate(0.0, ())
    left = set(remaining)
    weight: dict[str, float] = {}
    for task_id in remaining:
        state = states.get(task_id, TaskState.SCHEDULED)
        duration = durations.get(task_id, DEFAULT_DURATION)
        if state == TaskState.RUNNING:
            weight[task_id] = max(duration - elapsed.get(task_id, 0.0), OVERRUN_REMAINING)
        elif state in _WAITING:
            weight[task_id] = max(waits.get(task_id, 0.0), 0.0) + duration
        else:
            weight[task_id] = duration
    ups = {t: upstream.get(t, set()) & left for t in remaining}
    path, total = critical_path(remaining, ups, weight)
    return Estimate(total, tuple(path))


def run_path(order: Sequence[str], upstream: Mapping[str, set[str]], durations: Mapping[str, float]) -> Estimate:
    """The critical path of a whole run, by the durations its tasks took (or are expected to take)."""
    path, total = critical_path(order, upstream, {t: durations.get(t, 0.0) for t in order})
    return Estimate(total, tuple(path))


def deadline_of(pipeline: Pipeline, run: RunRecord) -> datetime | None:
    """When ``run`` must have finished (None: its pipeline has no deadline, or it is a backfill run).

    A scheduled run counts from the end of its data interval, any other run from its creation.
    """
    if pipeline.deadline is None or run.lane == "backfill":
        return None
    reference = run.interval_end if run.trigger == "schedule" else (run.created_at or run.interval_end)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return pipeline.deadline.due_at(reference).astimezone(UTC)


def _span(pipeline: Pipeline) -> float:
    """An upper bound of deadline minus reference time, in seconds."""
    deadline = pipeline.deadline
    if deadline is not None and deadline.after is not None:
        return deadline.after.total_seconds()
    return 3 * 86400.0  # a time of day: at most two days later (a DST gap can push it a day)


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class DeadlineWatch:
    """Records and alerts runs that are predicted to miss, or missed, their pipeline's deadline.

    Call :meth:`check` from every scheduler pass. It reads the store only (any
    scheduler may drive the runs it looks at), and each row it records (one
    ``predicted`` and one ``missed`` per run at most) is inserted only if
    absent: when several watches share a database, only the one that inserted
    a row sends its alert.

    ``send`` delivers an alert (e.g. :meth:`Alerter.send <headwater.engine.alerts.Alerter.send>`).
    ``recheck``: how often the prediction of an in-flight run is refreshed (seconds).
    ``min_interval``: calls closer together than this reuse the last answer (unless something is due).
    ``lookback``: how far back the first check looks for runs that ended late or failed.
    ``history_ttl``: how long typical task durations are reused before being read again.
    """

    OVERLAP = 300.0  # each check also looks at runs that ended this long before the previous one

    def __init__(
        self,
        store: Store,
        send: Callable[[Alert], None],
        clock: Clock | None = None,
        *,
        recheck: float = 30.0,
        min_interval: float = 5.0,
        lookback: float = 86400.0,
        history_ttl: float = 600.0,
    ) -> None:
        self.store = store
        self.send = send
        self.clock = clock
        self.recheck = recheck
        self.min_interval = min_interval
        self.lookback = lookback
        self.history_ttl = history_ttl
        self._since: float | None = None
        self._last: float | None = None  # when the last full check ran
        self._next: float | None = None  # and what it returned
        self._history: dict[str, tuple[float, dict[str, float]]] = {}

    def check(self, pipelines: Mapping[str, Pipeline], now: float | None = None) -> float | None:
        """Look at the runs of ``pipelines`` that have a deadline; return when to check next (epoch seconds).

        None means nothing is pending (no in-flight run with a deadline ahead). It
        costs nothing when no pipeline has a deadline, and otherwise a few queries
        over the active and recently ended runs of the pipelines that have one.
        """
        watched = {pid: p for pid, p in pipelines.items() if p.deadline is not None}
        if not watched:
            return None
        if now is None:
            from headwater.engine.clock import SystemClock

            now = (self.clock or SystemClock()).now()
        if self._last is not None and now < self._last + self.min_interval and (self._next is None or now < self._next):
            return self._next  # checked moments ago, and nothing is due before the next look
        self._last = now
        self._next = self._check(watched, now)
        return self._next

    def _check(self, watched: Mapping[str, Pipeline], now: float) -> float | None:
        from headwater.store import deadlines as db

        since = self._since if self._since is not None else now - self.lookback
        span = max(_span(p) for p in watched.values())
        runs = db.candidate_runs(self.store, sorted(watched), created_since=_at(since - span), ended_since=_at(since))
        if not runs:
            self._since = now - self.OVERLAP
            return None
        recorded = db.for_runs(self.store, [r.run_id for r in runs])
        next_check: float | None = None
        todo: list[tuple[RunRecord, float, str]] = []  # (run, deadline, what to record)

        def later(at: float) -> None:
            nonlocal next_check
            next_check = at if next_check is None else min(next_check, at)

        for run in runs:
            pipeline = watched[run.pipeline_id]
            due = deadline_of(pipeline, run)
            if due is None:
                continue
            deadline = due.timestamp()
            missed = (run.run_id, db.MISSED) in recorded
            if run.state in db.ACTIVE_RUN_STATES:
                if missed:
                    continue
                if now >= deadline:
                    todo.append((run, deadline, "missed"))
                elif (run.run_id, db.PREDICTED) in recorded:
                    later(deadline)
                else:
                    todo.append((run, deadline, "predict"))
            elif run.state == "success":
                ended = _ts(run.ended_at)
                if ended is None or ended <= deadline:
                    continue
                if not missed:
                    todo.append((run, deadline, "ended late"))
                elif recorded[(run.run_id, db.MISSED)].expected_end_at != run.ended_at:
                    assert run.ended_at is not None
                    db.settle_missed(self.store, run.run_id, run.ended_at, (ended - deadline) / 60)
            elif not missed:  # failed: it has missed its deadline once that passes (unless resumed first)
                if now >= deadline:
                    todo.append((run, deadline, "failed"))
                else:
                    later(deadline)
        if todo:
            for at in self._handle(todo, watched, now):
                later(at)
        self._since = now - self.OVERLAP
        return next_check

    # -- internals ------------------------------------------------------------------------
    def _handle(
        self, todo: list[tuple[RunRecord, float, str]], pipelines: Mapping[str, Pipeline], now: float
    ) -> list[float]:
        """Record what ``todo`` says; return when the runs it predicted on time need another look."""
        from headwater.store import deadlines as db

        again: list[float] = []

        run_ids = [run.run_id for run, _, _ in todo]
        instances = db.task_instances(self.store, run_ids)
        running = db.running_try_starts(self.store, [run.run_id for run, _, _ in todo if run.state == "running"])
        for run, deadline, what in todo:
            pipeline = pipelines[run.pipeline_id]
            tis = instances.get(run.run_id, [])
            if what == "ended late":
                ended = _ts(run.ended_at)
                assert ended is not None
                taken = {ti.task_id: ti.duration or 0.0 for ti in tis}
                path = run_path(pipeline.order, pipeline.upstream, taken).path
                self._record(run, db.MISSED, deadline, now, ended, path)
                continue
            estimate = self._estimate(pipeline, run, tis, running, now, failed=what == "failed")
            if what == "predict":
                end = now + estimate.seconds
                if end > deadline:
                    self._record(run, db.PREDICTED, deadline, now, end, estimate.path)
                    again.append(deadline)
                else:
                    again.append(min(deadline, now + self.recheck))
            elif what == "missed":
                self._record(run, db.MISSED, deadline, now, now + estimate.seconds, estimate.path, late_at=now)
            else:  # failed
                self._record(run, db.MISSED, deadline, now, None, estimate.path, late_at=now)
        return again

    def _estimate(
        self,
        pipeline: Pipeline,
        run: RunRecord,
        tis: Sequence[TaskInstanceRecord],
        running: Mapping[tuple[str, str], float],
        now: float,
        *,
        failed: bool,
    ) -> Estimate:
        durations = expected_durations(pipeline.order, self._typical(pipeline.id, now))
        states: dict[str, str] = {}
        elapsed: dict[str, float] = {}
        waits: dict[str, float] = {}
        for ti in tis:
            # what a failed run still lacks: every task that did not succeed (or was skipped)
            state = (
                TaskState.SCHEDULED
                if failed and ti.state in (TaskState.FAILED, TaskState.UPSTREAM_FAILED)
                else ti.state
            )
            states[ti.task_id] = state
            if state == TaskState.RUNNING:
                started = running.get((run.run_id, ti.task_id), ti.started_at)
                elapsed[ti.task_id] = max(now - started, 0.0) if started is not None else 0.0
            elif state in _WAITING and ti.next_try_at is not None:
                waits[ti.task_id] = ti.next_try_at - now
        return estimate_remaining(pipeline.order, pipeline.upstream, states, durations, elapsed=elapsed, waits=waits)

    def _typical(self, pipeline_id: str, now: float) -> dict[str, float]:
        cached = self._history.get(pipeline_id)
        if cached is None or now - cached[0] >= self.history_ttl:
            cached = (now, self.store.typical_durations(pipeline_id))
            self._history[pipeline_id] = cached
        return cached[1]

    def _record(
        self,
        run: RunRecord,
        kind: str,
        deadline: float,
        now: float,
        end: float | None,
        path: Sequence[str],
        *,
        late_at: float | None = None,
    ) -> None:
        from headwater.engine.alerts import deadline_alert
        from headwater.store.deadlines import PREDICTED, DeadlineMiss, record

        late = ((late_at if late_at is not None else end or now) - deadline) / 60
        miss = DeadlineMiss(
            run_id=run.run_id,
            kind=kind,
            pipeline_id=run.pipeline_id,
            deadline_at=_at(deadline),
            detected_at=_at(now),
            expected_end_at=None if end is None else _at(end),
            minutes_late=late,
            critical_path=tuple(path),
        )
        if not record(self.store, miss):
            return  # another scheduler recorded it first, and alerts
        predicted = kind == PREDICTED
        log.warning(
            "run %s %s its deadline of %s by %.1f min (critical path: %s)",
            run.run_id,
            "is predicted to miss" if predicted else "missed",
            miss.deadline_at.isoformat(),
            late,
            " > ".join(path) or "-",
        )
        alert = deadline_alert(
            pipeline_id=run.pipeline_id,
            run_id=run.run_id,
            predicted=predicted,
            deadline_at=miss.deadline_at,
            minutes_late=late,
            critical_path=tuple(path),
            expected_end_at=miss.expected_end_at,
            logical_date=run.logical_date,
        )
        try:
            self.send(alert)
        except Exception:  # the row is recorded; a broken notifier must not stop the scheduler
            log.exception("could not send the deadline alert of run %s", run.run_id)


__all__ = [
    "DEFAULT_DURATION",
    "OVERRUN_REMAINING",
    "DeadlineWatch",
    "Estimate",
    "deadline_of",
    "estimate_remaining",
    "expected_durations",
    "run_path",
]
