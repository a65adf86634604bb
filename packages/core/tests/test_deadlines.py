"""Deadlines on SQLite and PostgreSQL: the finish estimate, predicted lateness, missed deadlines, alerting once."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from headwater import Pipeline, task
from headwater.engine.clock import FakeClock
from headwater.engine.deadlines import (
    DEFAULT_DURATION,
    OVERRUN_REMAINING,
    DeadlineWatch,
    Estimate,
    deadline_of,
    estimate_remaining,
    expected_durations,
)
from headwater.engine.run import new_task_instances
from headwater.plugin.notifier import Alert, AlertKind
from headwater.store import deadlines as db
from headwater.store.database import connect
from headwater.store.records import RunRecord, TryRecord, to_datetime
from headwater.store.repository import Store

T0 = 1_767_600_000.0  # 2026-01-05 08:00 UTC
CHAIN = ["extract", "transform", "load"]
CHAIN_UP = {"extract": set(), "transform": {"extract"}, "load": {"transform"}}


@task
def extract() -> None: ...


@task
def transform() -> None: ...


@task
def load() -> None: ...


def chain_pipeline(deadline: object = "2h", *, schedule: str | None = "@daily") -> Pipeline:
    """extract >> transform >> load, with an id of its own (the PostgreSQL database is shared by the session)."""
    start = "2025-01-01" if schedule else None
    with Pipeline(
        f"dl_{secrets.token_hex(4)}",
        schedule=schedule,
        start_date=start,
        deadline=deadline,  # type: ignore[arg-type]
    ) as p:
        extract() >> transform() >> load()
    return p


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(connect(db_url))
    yield s
    s.close()


class Alerts:
    """The ``send`` callback: keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []
        self._lock = threading.Lock()

    def __call__(self, alert: Alert) -> None:
        with self._lock:
            self.sent.append(alert)


# -- building state in the store ----------------------------------------------------------------


def add_run(
    store: Store,
    pipeline: Pipeline,
    *,
    interval_end: float,
    state: str = "queued",
    trigger: str = "schedule",
    created_at: float | None = None,
    started_at: float | None = None,
    ended_at: float | None = None,
    lane: str = "default",
) -> RunRecord:
    end = to_datetime(interval_end)
    start = to_datetime(interval_end - 86400)
    assert end is not None and start is not None
    run = RunRecord(
        run_id=f"{pipeline.id}-{secrets.token_hex(3)}",
        pipeline_id=pipeline.id,
        pipeline_file=None,
        state=state,
        logical_date=start,
        interval_start=start,
        interval_end=end,
        trigger=trigger,
        created_at=to_datetime(created_at if created_at is not None else interval_end),
        started_at=to_datetime(started_at),
        ended_at=to_datetime(ended_at),
        lane=lane,
    )
    store.create_run(run, new_task_instances(pipeline, run.run_id))
    return run


def set_task(
    store: Store,
    run: RunRecord,
    task_id: str,
    state: str,
    *,
    started_at: float | None = None,
    ended_at: float | None = None,
    try_number: int = 1,
    next_try_at: float | None = None,
) -> None:
    """Give one task instance a state, with its try."""
    ti = next(ti for ti in store.task_instances(run.run_id) if ti.task_id == task_id)
    ti.state, ti.try_number, ti.started_at, ti.ended_at, ti.next_try_at = (
        state,
        try_number,
        started_at,
        ended_at,
        next_try_at,
    )
    ti.duration = None if started_at is None or ended_at is None else ended_at - started_at
    attempt = TryRecord(
        run_id=run.run_id,
        task_id=task_id,
        try_number=try_number,
        pipeline_id=run.pipeline_id,
        state="success" if state == "success" else ("running" if state == "running" else "failed"),
        queued_at=started_at,
        started_at=started_at,
        ended_at=ended_at,
        duration=ti.duration,
    )
    store.write_batch(instances=[ti], new_tries=[attempt] if started_at is not None else [])


def add_history(store: Store, pipeline: Pipeline, durations: dict[str, float]) -> None:
    """A finished run in which each task of ``durations`` succeeded after that many seconds."""
    run = add_run(store, pipeline, interval_end=T0 - 10 * 86400, state="success", ended_at=T0 - 9 * 86400)
    at = T0 - 10 * 86400
    for task_id, seconds in durations.items():
        set_task(store, run, task_id, "success", started_at=at, ended_at=at + seconds)
        at += seconds


def rows(store: Store, run: RunRecord) -> dict[str, db.DeadlineMiss]:
    return {m.kind: m for m in db.for_run(store, run.run_id)}


# -- the estimate (pure) ---------------------------------------------------------------------------


def test_nothing_started_needs_the_whole_critical_path() -> None:
    durations = {"extract": 600.0, "transform": 1800.0, "load": 300.0}
    assert estimate_remaining(CHAIN, CHAIN_UP, {}, durations) == Estimate(2700.0, ("extract", "transform", "load"))


def test_finished_tasks_weigh_nothing_and_a_running_task_counts_what_it_has_left() -> None:
    durations = {"extract": 600.0, "transform": 1800.0, "load": 300.0}
    states = {"extract": "success", "transform": "running", "load": "scheduled"}
    estimate = estimate_remaining(CHAIN, CHAIN_UP, states, durations, elapsed={"transform": 500.0})
    assert estimate == Estimate(1300.0 + 300.0, ("transform", "load"))


def test_a_task_past_its_typical_duration_still_needs_a_little() -> None:
    durations = {"extract": 600.0, "transform": 1800.0, "load": 300.0}
    states = {"extract": "success", "transform": "running"}
    estimate = estimate_remaining(CHAIN, CHAIN_UP, states, durations, elapsed={"transform": 4000.0})
    assert estimate.seconds == OVERRUN_REMAINING + 300.0


def test_a_retry_wait_adds_to_the_task_and_the_heaviest_branch_decides() -> None:
    order = ["a", "fast", "slow", "d"]
    upstream = {"a": set(), "fast": {"a"}, "slow": {"a"}, "d": {"fast", "slow"}}
    durations = {"a": 10.0, "fast": 5.0, "slow": 50.0, "d": 10.0}
    states = {"a": "success", "fast": "up_for_retry", "slow": "running"}
    # slow: 50 - 20 = 30 left; fast: 5 + a 100 s wait = 105: the retried branch is now the critical one
    estimate = estimate_remaining(order, upstream, states, durations, elapsed={"slow": 20.0}, waits={"fast": 100.0})
    assert estimate == Estimate(105.0 + 10.0, ("fast", "d"))
    without_wait = estimate_remaining(order, upstream, states, durations, elapsed={"slow": 20.0})
    assert without_wait == Estimate(30.0 + 10.0, ("slow", "d"))


def test_a_finished_run_needs_nothing() -> None:
    states = dict.fromkeys(CHAIN, "success") | {"load": "skipped"}
    assert estimate_remaining(CHAIN, CHAIN_UP, states, {}) == Estimate(0.0, ())


def test_unknown_tasks_take_the_median_of_the_known_ones_else_one_second() -> None:
    assert expected_durations(CHAIN, {"extract": 10.0, "transform": 30.0}) == {
        "extract": 10.0,
        "transform": 30.0,
        "load": 20.0,
    }
    assert expected_durations(CHAIN, {"extract": 10.0, "gone": 99.0}) == {
        "extract": 10.0,
        "transform": 10.0,
        "load": 10.0,
    }
    assert expected_durations(CHAIN, {}) == dict.fromkeys(CHAIN, DEFAULT_DURATION)


def test_a_scheduled_run_counts_from_its_interval_end_any_other_from_its_creation() -> None:
    p = chain_pipeline("90m")
    end = datetime(2026, 1, 5, tzinfo=UTC)
    created = end + timedelta(hours=5)

    def run(trigger: str, lane: str = "default") -> RunRecord:
        return RunRecord(
            run_id="r",
            pipeline_id=p.id,
            pipeline_file=None,
            state="queued",
            logical_date=end - timedelta(days=1),
            interval_start=end - timedelta(days=1),
            interval_end=end,
            trigger=trigger,
            created_at=created,
            lane=lane,
        )

    assert deadline_of(p, run("schedule")) == end + timedelta(minutes=90)
    assert deadline_of(p, run("manual")) == created + timedelta(minutes=90)
    assert deadline_of(p, run("schedule", lane="backfill")) is None
    assert deadline_of(chain_pipeline(None), run("schedule")) is None
    berlin = Pipeline(f"dl_{secrets.token_hex(4)}", schedule="@daily", start_date="2025-01-01",
                      timezone="Europe/Berlin", deadline="08:00")  # fmt: skip
    assert deadline_of(berlin, run("schedule")) == datetime(2026, 1, 5, 7, tzinfo=UTC)  # 08:00 CET


# -- missed deadlines ----------------------------------------------------------------------------------


def test_a_missed_deadline_is_recorded_and_alerted_once(store: Store, db_url: str) -> None:
    p = chain_pipeline("30m")
    run = add_run(store, p, interval_end=T0, state="running", started_at=T0 + 60)
    set_task(store, run, "extract", "success", started_at=T0 + 60, ended_at=T0 + 120)
    alerts = Alerts()
    watch = DeadlineWatch(store, alerts, FakeClock(T0 + 45 * 60))

    watch.check({p.id: p})
    watch.check({p.id: p}, T0 + 46 * 60)  # again: nothing new
    other = Store(connect(db_url))
    try:
        DeadlineWatch(other, alerts).check({p.id: p}, T0 + 50 * 60)  # another scheduler, later
    finally:
        other.close()

    assert len(alerts.sent) == 1
    alert = alerts.sent[0]
    assert (alert.kind, alert.run_id, alert.pipeline_id) == (AlertKind.DEADLINE_MISSED, run.run_id, p.id)
    assert alert.minutes_late == pytest.approx(15.0)
    assert alert.critical_path == ("transform", "load")  # what is left
    assert alert.logical_date == run.logical_date.isoformat()
    recorded = rows(store, run)
    assert set(recorded) == {"missed"}  # already late when first seen: never "predicted"
    miss = recorded["missed"]
    assert miss.deadline_at == datetime.fromtimestamp(T0 + 30 * 60, UTC)
    assert miss.detected_at == datetime.fromtimestamp(T0 + 45 * 60, UTC)
    assert miss.minutes_late == pytest.approx(15.0)
    assert miss.critical_path == ("transform", "load")


def test_schedulers_checking_at_once_alert_exactly_once(db_url: str) -> None:
    setup = Store(connect(db_url))
    p = chain_pipeline("30m")
    try:
        runs = [add_run(setup, p, interval_end=T0 - n * 86400) for n in range(3)]
    finally:
        setup.close()
    alerts = Alerts()
    stores = [Store(connect(db_url)) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def check(s: Store) -> None:
        try:
            barrier.wait()
            DeadlineWatch(s, alerts).check({p.id: p}, T0 + 3600)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=check, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for s in stores:
        s.close()
    assert not errors
    assert sorted(a.run_id for a in alerts.sent) == sorted(r.run_id for r in runs)  # once each


def test_a_run_that_succeeds_after_its_deadline_missed_it_by_its_finish(store: Store) -> None:
    p = chain_pipeline("30m")
    run = add_run(store, p, interval_end=T0, state="running", started_at=T0)
    set_task(store, run, "extract", "success", started_at=T0, ended_at=T0 + 600)
    set_task(store, run, "transform", "success", started_at=T0 + 600, ended_at=T0 + 2400)
    set_task(store, run, "load", "success", started_at=T0 + 2400, ended_at=T0 + 2520)
    store.write_batch(run_state=(run.run_id, "success", None, T0 + 2520))  # 12 minutes late
    alerts = Alerts()

    DeadlineWatch(store, alerts).check({p.id: p}, T0 + 3000)

    [alert] = alerts.sent
    assert alert.kind == AlertKind.DEADLINE_MISSED
    assert alert.minutes_late == pytest.approx(12.0)
    assert alert.critical_path == ("extract", "transform", "load")
    miss = rows(store, run)["missed"]
    assert miss.expected_end_at == datetime.fromtimestamp(T0 + 2520, UTC)


def test_a_run_seen_late_while_running_is_settled_with_its_real_finish(store: Store) -> None:
    p = chain_pipeline("30m")
    run = add_run(store, p, interval_end=T0, state="running", started_at=T0)
    alerts = Alerts()
    watch = DeadlineWatch(store, alerts)
    watch.check({p.id: p}, T0 + 31 * 60)
    assert rows(store, run)["missed"].minutes_late == pytest.approx(1.0)

    store.write_batch(run_state=(run.run_id, "success", None, T0 + 50 * 60))
    watch.check({p.id: p}, T0 + 51 * 60)

    assert len(alerts.sent) == 1  # settling is not a second alert
    miss = rows(store, run)["missed"]
    assert miss.minutes_late == pytest.approx(20.0)
    assert miss.expected_end_at == datetime.fromtimestamp(T0 + 50 * 60, UTC)


def test_on_time_runs_and_backfills_are_never_recorded(store: Store) -> None:
    p = chain_pipeline("30m")
    on_time = add_run(store, p, interval_end=T0, state="success", started_at=T0, ended_at=T0 + 29 * 60)
    backfill = add_run(store, p, interval_end=T0 - 30 * 86400, created_at=T0, lane="backfill")
    alerts = Alerts()

    assert DeadlineWatch(store, alerts).check({p.id: p}, T0 + 3600) is None

    assert alerts.sent == []
    assert rows(store, on_time) == {} and rows(store, backfill) == {}


def test_a_failed_run_misses_its_deadline_once_the_deadline_passes(store: Store) -> None:
    p = chain_pipeline("30m")
    run = add_run(store, p, interval_end=T0, state="running", started_at=T0)
    set_task(store, run, "extract", "success", started_at=T0, ended_at=T0 + 60)
    set_task(store, run, "transform", "failed", started_at=T0 + 60, ended_at=T0 + 120)
    store.write_batch(run_state=(run.run_id, "failed", None, T0 + 120))
    alerts = Alerts()
    watch = DeadlineWatch(store, alerts)

    assert watch.check({p.id: p}, T0 + 600) == T0 + 30 * 60  # nothing yet: come back at the deadline
    assert alerts.sent == []
    watch.check({p.id: p}, T0 + 30 * 60 + 5)

    [alert] = alerts.sent
    assert alert.kind == AlertKind.DEADLINE_MISSED
    assert alert.critical_path == ("transform", "load")  # what it still lacks


def test_a_manual_run_counts_from_its_creation(store: Store) -> None:
    p = chain_pipeline("1h", schedule=None)
    run = add_run(store, p, interval_end=T0 - 86400, trigger="manual", created_at=T0)
    alerts = Alerts()
    watch = DeadlineWatch(store, alerts)
    add_history(store, p, {"extract": 60.0, "transform": 60.0, "load": 60.0})

    watch.check({p.id: p}, T0 + 30 * 60)
    assert alerts.sent == []
    watch.check({p.id: p}, T0 + 61 * 60)
    assert [(a.kind, a.run_id) for a in alerts.sent] == [(AlertKind.DEADLINE_MISSED, run.run_id)]


# -- predicted lateness ------------------------------------------------------------------------------


def test_history_that_makes_the_run_late_predicts_the_miss_before_the_deadline(store: Store) -> None:
    p = chain_pipeline("2h")
    add_history(store, p, {"extract": 1800.0, "transform": 3600.0, "load": 1800.0})
    run = add_run(store, p, interval_end=T0, state="running", started_at=T0 + 300)
    set_task(store, run, "extract", "running", started_at=T0 + 300)
    alerts = Alerts()
    watch = DeadlineWatch(store, alerts)

    next_check = watch.check({p.id: p}, T0 + 600)
    # extract has 1800 - 300 s left, then transform and load: the run should end at T0 + 7500, 5 min late
    [alert] = alerts.sent
    assert alert.kind == AlertKind.DEADLINE_PREDICTED
    assert alert.minutes_late == pytest.approx(5.0)
    assert alert.critical_path == ("extract", "transform", "load")
    predicted = rows(store, run)["predicted"]
    assert predicted.expected_end_at == datetime.fromtimestamp(T0 + 7500, UTC)
    assert predicted.detected_at == datetime.fromtimestamp(T0 + 600, UTC)
    assert next_check == T0 + 7200  # the deadline itself

    watch.check({p.id: p}, T0 + 900)
    assert len(alerts.sent) == 1  # predicted once

    watch.check({p.id: p}, T0 + 7200)  # still running at the deadline: now it missed it
    assert [a.kind for a in alerts.sent] == [AlertKind.DEADLINE_PREDICTED, AlertKind.DEADLINE_MISSED]
    assert set(rows(store, run)) == {"predicted", "missed"}


def test_history_that_says_on_time_predicts_nothing(store: Store) -> None:
    p = chain_pipeline("2h")
    add_history(store, p, {"extract": 600.0, "transform": 600.0, "load": 600.0})
    run = add_run(store, p, interval_end=T0, state="running", started_at=T0 + 300)
    set_task(store, run, "extract", "running", started_at=T0 + 300)
    alerts = Alerts()
    watch = DeadlineWatch(store, alerts, recheck=30.0)

    assert watch.check({p.id: p}, T0 + 600) == T0 + 630  # look again soon: the estimate may change
    assert alerts.sent == []
    assert rows(store, run) == {}

    # extract hangs: two hours in, its remaining time is tiny, but transform + load no longer fit
    watch.check({p.id: p}, T0 + 6500)
    assert [a.kind for a in alerts.sent] == [AlertKind.DEADLINE_PREDICTED]
    assert alerts.sent[0].minutes_late == pytest.approx((6500 + OVERRUN_REMAINING + 1200 - 7200) / 60)


def test_without_history_unknown_tasks_count_one_second_each(store: Store) -> None:
    p = chain_pipeline("2h")
    run = add_run(store, p, interval_end=T0)
    alerts = Alerts()

    DeadlineWatch(store, alerts).check({p.id: p}, T0 + 7200 - 2.5)  # 3 tasks of 1 s each: 0.5 s late
    [alert] = alerts.sent
    assert alert.kind == AlertKind.DEADLINE_PREDICTED
    assert alert.minutes_late == pytest.approx(0.5 / 60)
    assert rows(store, run)["predicted"].critical_path == ("extract", "transform", "load")


def test_a_failing_notifier_does_not_stop_the_watch(store: Store) -> None:
    p = chain_pipeline("30m")
    run = add_run(store, p, interval_end=T0)

    def broken(alert: Alert) -> None:
        raise ConnectionError("slack is down")

    DeadlineWatch(store, broken).check({p.id: p}, T0 + 3600)
    assert set(rows(store, run)) == {"missed"}


# -- cost ----------------------------------------------------------------------------------------------


def count_queries(store: Store) -> list[str]:
    seen: list[str] = []

    def before(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", before)
    return seen


def test_no_deadline_means_no_query(store: Store) -> None:
    pipelines = {}
    for _ in range(20):
        p = chain_pipeline(None)
        pipelines[p.id] = p
        add_run(store, p, interval_end=T0)
    seen = count_queries(store)
    assert DeadlineWatch(store, Alerts()).check(pipelines, T0 + 86400) is None
    assert seen == []


def test_a_thousand_pipelines_with_deadlines_cost_a_few_queries(store: Store) -> None:
    pipelines = {}
    for _ in range(1000):
        with Pipeline(f"dl_{secrets.token_hex(5)}", schedule="@daily", start_date="2025-01-01", deadline="1h") as p:
            extract()
        pipelines[p.id] = p
    late = next(iter(pipelines.values()))
    add_run(store, late, interval_end=T0)
    seen = count_queries(store)
    alerts = Alerts()

    DeadlineWatch(store, alerts).check(pipelines, T0 + 7200)

    assert [a.pipeline_id for a in alerts.sent] == [late.id]
    assert len(seen) <= 8, seen  # two chunks of candidate runs, rows, tasks, the insert


def test_calls_moments_apart_reuse_the_last_answer_until_something_is_due(store: Store) -> None:
    p = chain_pipeline("2h")
    add_history(store, p, {"extract": 600.0, "transform": 600.0, "load": 600.0})
    add_run(store, p, interval_end=T0, state="running", started_at=T0)
    watch = DeadlineWatch(store, Alerts(), recheck=30.0, min_interval=5.0)
    assert watch.check({p.id: p}, T0 + 600) == T0 + 630
    seen = count_queries(store)

    assert watch.check({p.id: p}, T0 + 603) == T0 + 630
    assert seen == []
    assert watch.check({p.id: p}, T0 + 606) == T0 + 636  # past min_interval: a real check
    assert seen != []
