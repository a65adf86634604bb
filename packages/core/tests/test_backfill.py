"""``headwater backfill``: the plan, the order, the lane, resuming, and the command as a user drives it."""

from __future__ import annotations

import io
import queue
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from headwater.cli.app import cli
from headwater.cli.backfill_cmd import PlainBackfillProgress
from headwater.config.settings import Project, load_project
from headwater.engine.backfill import (
    BackfillRunner,
    backfill_run_id,
    create_backfill,
    order_intervals,
    plan_backfill,
)
from headwater.engine.clock import FakeClock
from headwater.engine.launch import load_executor, open_store
from headwater.engine.listener import RunSummary
from headwater.engine.scheduler import Scheduler, SchedulerOptions, scheduled_run_id
from headwater.errors import UsageError
from headwater.executors.base import EventSink, Executor, ExecutorHealth, TaskKey, TaskSubmission
from headwater.executors.worker import execute_submission
from headwater.loader.project import find_pipeline
from headwater.model.pipeline import Pipeline
from headwater.store import backfills
from headwater.store import tables as t
from headwater.store.leases import Limits, claim_runs, lock_pipeline, pending_runs, set_cursor
from headwater.store.records import RunRecord
from headwater.store.repository import Store

T = TypeVar("T")

DAILY = """
from pathlib import Path
from headwater import Pipeline, task

OUT = Path(__file__).resolve().parent.parent / "out.txt"

def note(ctx, name):
    with OUT.open("a") as f:
        f.write(f"{name} {ctx.logical_date.date()}\\n")

@task
def a(ctx):
    note(ctx, "a")

@task
def b(ctx):
    if ctx.logical_date.day == FAIL_DAY:
        raise ValueError("bad day")
    note(ctx, "b")

with Pipeline("daily", schedule="@daily", start_date="2026-01-01", end_date="2026-06-30"):
    a() >> b()
"""


class Proj:
    """A project directory with the inline executor (the core's tests do not install headwater-local)."""

    def __init__(self, root: Path, db: str | None = None, extra: str = "") -> None:
        self.root = root
        self.pipelines = root / "pipelines"
        self.pipelines.mkdir(parents=True)
        settings = 'executor = "inline"\n' + (f"db = {db!r}\n" if db else "") + extra
        (root / "headwater.toml").write_text(settings, encoding="utf-8")

    def write(self, name: str, source: str) -> Path:
        path = self.pipelines / name
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    def daily(self, fail_day: int = 0) -> None:
        self.write("daily.py", DAILY.replace("FAIL_DAY", str(fail_day)))

    @property
    def db(self) -> Path:
        return self.root / ".headwater" / "headwater.db"

    def invoke(self, *args: str) -> Result:
        """Run ``headwater --project ROOT ARGS`` in this process; any crash other than an exit fails the test."""
        result = CliRunner().invoke(cli, ["--project", str(self.root), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"headwater {' '.join(args)} crashed:\n{result.output}") from result.exception
        return result

    def lines(self, name: str = "out.txt") -> list[str]:
        path = self.root / name
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def project(self) -> Project:
        return load_project(self.root)

    def pipeline(self, pipeline_id: str) -> Pipeline:
        return find_pipeline(self.project(), pipeline_id)

    def store(self) -> Store:
        return open_store(self.project())


@pytest.fixture
def proj(tmp_path: Path) -> Proj:
    return Proj(tmp_path / "proj")


def _runs(store: Store, backfill_id: str) -> list[RunRecord]:
    from headwater.store.repository import _run_record

    query = select(t.runs).where(t.runs.c.backfill_id == backfill_id).order_by(t.runs.c.created_at)
    with store.engine.connect() as conn:
        return [_run_record(dict(row)) for row in conn.execute(query).mappings()]


def _day(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for something other threads do (the bound only turns a hang into a failure)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# -- the plan ----------------------------------------------------------------------------------------


def test_naive_dates_are_in_the_pipelines_timezone_and_the_end_is_included(proj: Proj) -> None:
    proj.write(
        "berlin.py",
        """
        from headwater import Pipeline, BashOperator
        with Pipeline("berlin", schedule="0 6 * * *", timezone="Europe/Berlin", start_date="2026-01-01"):
            BashOperator("t", command="true")
        """,
    )
    pipeline = proj.pipeline("berlin")
    plan = plan_backfill(pipeline, datetime(2026, 3, 28), datetime(2026, 3, 30, 6))
    starts = [i.start.astimezone(UTC) for i in plan.intervals]
    # summer time starts on 29 March 2026: 06:00 local is 05:00 UTC before and 04:00 UTC after
    assert starts == [_day("2026-03-28T05:00"), _day("2026-03-29T04:00"), _day("2026-03-30T04:00")]
    assert backfill_run_id("berlin", "abcd1234", plan.intervals[1].start) == "berlin-20260329T040000-backfill-abcd1234"
    just_before = plan_backfill(pipeline, datetime(2026, 3, 28), datetime(2026, 3, 30, 5, 59))
    assert len(just_before.intervals) == 2


def test_the_estimate_is_waves_of_the_critical_path(proj: Proj) -> None:
    proj.daily()
    plan = plan_backfill(proj.pipeline("daily"), datetime(2026, 1, 1), datetime(2026, 1, 11), parallelism=5)
    estimate = plan.estimate({"a": 2.0})  # b has no history: 1 s
    assert (estimate.per_run, estimate.waves, estimate.total) == (3.0, 3, 9.0)
    assert estimate.critical_path == ["a", "b"] and estimate.missing == ["b"]


# -- the command: bad input ---------------------------------------------------------------------------

MANUAL = """
from headwater import Pipeline, BashOperator
with Pipeline("manual"):
    BashOperator("t", command="true")
"""
MONTHLY = """
from headwater import Pipeline, BashOperator
with Pipeline("monthly", schedule="@monthly", start_date="2026-01-01"):
    BashOperator("t", command="true")
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("daily", "--start", "2026-02-01", "--end", "2026-01-01"), "end 2026-01-01 00:00+00:00 is before start"),
        (
            ("daily", "--start", "2025-12-01", "--end", "2026-01-05"),
            "before the start_date of pipeline 'daily' (start_date 2026-01-01 00:00+00:00, end_date 2026-06-30",
        ),
        (
            ("daily", "--start", "2026-06-01", "--end", "2026-07-05"),
            "after the end_date of pipeline 'daily' (start_date 2026-01-01 00:00+00:00, end_date 2026-06-30",
        ),
        (("monthly", "--start", "2026-02-02", "--end", "2026-02-27"), "no interval of schedule '@monthly'"),
        (("daily", "--start", "2026-01-01", "--end", "2026-01-05", "--parallelism", "0"), "'--parallelism'"),
        (("daily", "--start", "2026-01-01", "--end", "2026-01-05", "--strategy", "sideways"), "'sideways'"),
        (("daily", "--start", "yesterday", "--end", "2026-01-05"), "--start 'yesterday': expected a date"),
        (("nosuch", "--start", "2026-01-01", "--end", "2026-01-05"), "no pipeline 'nosuch'"),
        (("manual", "--start", "2026-01-01", "--end", "2026-01-05"), "has no schedule to backfill"),
        (("daily", "--start", "2026-01-01", "--end", "2026-01-05", "--executor", "nosuch"), "nosuch"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(proj: Proj, args: tuple[str, ...], message: str) -> None:
    proj.daily()
    proj.write("manual.py", MANUAL)
    proj.write("monthly.py", MONTHLY)
    result = proj.invoke("backfill", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not proj.db.exists()
    assert proj.lines() == []


def test_a_task_whose_pool_gives_backfills_no_slot_is_refused(tmp_path: Path) -> None:
    proj = Proj(tmp_path / "proj", extra="[pools]\napi = {slots = 2, backfill_slots = 0}\n")
    proj.write(
        "api.py",
        """
        from headwater import Pipeline, task
        @task(pool="api")
        def call(ctx):
            pass
        with Pipeline("api", schedule="@daily", start_date="2026-01-01"):
            call()
        """,
    )
    result = proj.invoke("backfill", "api", "--start", "2026-01-01", "--end", "2026-01-03")
    assert result.exit_code == 2
    assert "task 'call' needs 1 slot(s) of pool 'api', but backfill runs may hold only 0" in result.stderr
    assert not proj.db.exists()


# -- the command: dry run -----------------------------------------------------------------------------


def test_dry_run_shows_the_plan_and_writes_nothing(proj: Proj) -> None:
    proj.daily()
    result = proj.invoke("backfill", "daily", "--start", "2026-01-01", "--end", "2026-03-31", "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "dry run: nothing is written" in out
    assert "intervals  90 starting from 2026-01-01 00:00+00:00 to 2026-03-31 00:00+00:00" in out
    assert "2026-01-01 00:00+00:00 -> 2026-01-02 00:00+00:00" in out
    assert "2026-03-31 00:00+00:00 -> 2026-04-01 00:00+00:00" in out
    assert "... 84 more ..." in out and "2026-02-15" not in out  # compact: the first and last few
    assert "runs       90, oldest first, 5 at a time" in out
    assert "tasks      2: a, b" in out
    # 90 runs, 5 at a time: 18 waves of a 2-task chain estimated at 1 s per task
    assert "~36.0s (18 wave(s)" in out
    assert "no history: estimates assume 1 s per task" in out
    assert "--skip-existing would skip nothing" in out
    assert not proj.db.exists()
    assert proj.lines() == []


def test_dry_run_uses_history_and_shows_what_skip_existing_skips(proj: Proj) -> None:
    proj.daily()
    assert proj.invoke("run", "daily", "--date", "2026-01-03").exit_code == 0
    store = proj.store()
    try:
        runs_before = len(store.list_runs(limit=100))
    finally:
        store.close()
    args = ("backfill", "daily", "--start", "2026-01-01", "--end", "2026-01-05", "--dry-run")
    plain = proj.invoke(*args)
    assert plain.exit_code == 0, plain.output
    assert "--skip-existing would skip 1 interval(s) that already succeeded: 2026-01-03 00:00+00:00" in plain.stdout
    assert "2026-01-03 00:00+00:00 -> 2026-01-04 00:00+00:00  (succeeded before)" in plain.stdout
    assert "typical durations" in plain.stdout and "no history" not in plain.stdout
    skipping = proj.invoke(*args, "--skip-existing", "--parallelism", "2")
    assert "skipping   1 interval(s) that already succeeded: 2026-01-03 00:00+00:00" in skipping.stdout
    assert "runs       4, oldest first, 2 at a time" in skipping.stdout
    assert "(2 wave(s)" in skipping.stdout
    store = proj.store()
    try:
        assert len(store.list_runs(limit=100)) == runs_before
        with store.engine.connect() as conn:
            assert conn.execute(select(t.backfills)).first() is None
    finally:
        store.close()
    assert proj.lines() == ["a 2026-01-03", "b 2026-01-03"]


# -- the command: running -----------------------------------------------------------------------------


def test_backfill_runs_every_interval_once_in_the_backfill_lane(proj: Proj) -> None:
    proj.daily()
    result = proj.invoke("backfill", "daily", "--start", "2026-01-01", "--end", "2026-01-05", "--parallelism", "2")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"^backfill (\w{8}) of daily: 5 of 5 run\(s\) to go, 2 at a time, oldest-first$", out, re.M), out
    assert re.search(r"^\[\s*[\d.]+s\] 5/5 success 2026-01-0\d 00:00\+00:00", out, re.M), out
    assert re.search(r"^backfill \w{8} of daily succeeded in ", out, re.M), out
    assert "completed  5" in out and "failed     0" in out and "skipped    0" in out
    dates = [f"2026-01-0{d}" for d in range(1, 6)]
    assert Counter(proj.lines()) == Counter([f"{task} {day}" for day in dates for task in "ab"])
    store = proj.store()
    try:
        with store.engine.connect() as conn:
            (record,) = conn.execute(select(t.backfills)).mappings().all()
        assert (record["state"], record["total"], record["parallelism"]) == ("success", 5, 2)
        runs = _runs(store, record["backfill_id"])
        assert [r.logical_date for r in runs] == [_day(d) for d in dates]
        assert {(r.lane, r.trigger, r.state) for r in runs} == {("backfill", "backfill", "success")}
        assert runs[0].run_id == f"daily-20260101T000000-backfill-{record['backfill_id']}"
    finally:
        store.close()


def test_a_failed_run_fails_the_backfill_with_exit_1(proj: Proj) -> None:
    proj.daily(fail_day=3)
    result = proj.invoke("backfill", "daily", "--start", "2026-01-01", "--end", "2026-01-04", "-q")
    assert result.exit_code == 1, result.output
    assert re.search(r"^backfill (\w{8}) of daily FAILED in ", result.stdout, re.M), result.output
    backfill_id = re.search(r"^backfill (\w{8})", result.stdout, re.M).group(1)  # type: ignore[union-attr]
    assert "completed  3" in result.stdout and "failed     1" in result.stdout
    assert f"daily-20260103T000000-backfill-{backfill_id}  2026-01-03 00:00+00:00" in result.stdout
    store = proj.store()
    try:
        record = backfills.get(store, backfill_id)
        assert record is not None and record.state == "failed"
    finally:
        store.close()


def test_skip_existing_skips_intervals_that_already_succeeded(proj: Proj) -> None:
    proj.daily()
    assert proj.invoke("run", "daily", "--date", "2026-01-03").exit_code == 0
    result = proj.invoke("backfill", "daily", "--start", "2026-01-01", "--end", "2026-01-05", "--skip-existing", "-q")
    assert result.exit_code == 0, result.output
    assert "completed  4" in result.stdout and "skipped    1 (already succeeded)" in result.stdout
    assert Counter(proj.lines())["a 2026-01-03"] == 1
    assert len(proj.lines()) == 10
    again = proj.invoke("backfill", "daily", "--start", "2026-01-01", "--end", "2026-01-05", "--skip-existing")
    assert again.exit_code == 0
    assert "nothing to backfill: all 5 interval(s) of daily" in again.stdout
    assert len(proj.lines()) == 10


# -- strategies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["oldest-first", "newest-first", "random"])
def test_strategy_orders_creation_and_claims(proj: Proj, strategy: str) -> None:
    proj.daily()
    pipeline = proj.pipeline("daily")
    plan = plan_backfill(pipeline, datetime(2026, 1, 1), datetime(2026, 1, 20), parallelism=3, strategy=strategy)
    chronological = [i.start.astimezone(UTC) for i in plan.intervals]
    expected = {
        "oldest-first": chronological,
        "newest-first": chronological[::-1],
        "random": [i.start.astimezone(UTC) for i in order_intervals(plan.intervals, "random", "cafef00d")],
    }[strategy]
    if strategy == "random":
        assert sorted(expected) == chronological and expected not in (chronological, chronological[::-1])
        assert order_intervals(plan.intervals, "random", "cafef00d") == order_intervals(
            plan.intervals, "random", "cafef00d"
        )  # seeded by the backfill id: a resumed backfill keeps its order
    store = proj.store()
    try:
        record = create_backfill(store, plan, executor_name="inline", now=time.time(), backfill_id="cafef00d")
        assert [r.logical_date for r in _runs(store, "cafef00d")] == expected
        limits = Limits(max_active_runs={}, backfill_parallelism={record.backfill_id: 3})
        claimed: list[datetime] = []
        for _ in range(2):  # the first three, then (once they are done) the next three
            claims = claim_runs(store, "test:1:x", now=time.time(), ttl=30, limits=limits, backfill_id="cafef00d")
            claimed += [c.run.logical_date for c in claims]
            with store.engine.begin() as conn:
                ids = [c.run.run_id for c in claims]
                conn.execute(update(t.runs).where(t.runs.c.run_id.in_(ids)).values(state="success", lease_owner=None))
        assert claimed == expected[:6]
    finally:
        store.close()


# -- resuming -----------------------------------------------------------------------------------------


def _dead_owner() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:dead00"


def test_an_interrupted_backfill_resumes_and_runs_each_interval_once(tmp_path: Path, empty_db_url: str) -> None:
    proj = Proj(tmp_path / "proj", db=empty_db_url)
    proj.daily()
    project = proj.project()
    pipeline = proj.pipeline("daily")
    plan = plan_backfill(pipeline, datetime(2026, 1, 1), datetime(2026, 1, 10), parallelism=3)
    store = proj.store()
    try:
        record = create_backfill(store, plan, executor_name="inline", now=time.time())
        finished: list[str] = []
        runner: BackfillRunner

        def stop_after_three(run: RunRecord, summary: RunSummary) -> None:
            finished.append(run.run_id)
            if len(finished) == 3:
                runner.stop()  # as Ctrl-C does

        shown = io.StringIO()
        runner = BackfillRunner(
            project,
            pipeline,
            record,
            store=store,
            executor=load_executor("inline"),
            progress=PlainBackfillProgress(pipeline, out=shown),
            on_finished=stop_after_three,
        )
        outcome = runner.run()
        assert not outcome.finished and 3 <= outcome.completed < 10
        assert shown.getvalue().startswith(
            f"backfill {record.backfill_id} of daily: 10 of 10 run(s) to go, 3 at a time, oldest-first\n"
        )
        assert re.search(r"^\[\s*[\d.]+s\]\s+3/10 success ", shown.getvalue(), re.M), shown.getvalue()
        assert backfills.get(store, record.backfill_id).state == "running"  # type: ignore[union-attr]
        # As if a process that had just claimed one more run were killed -9: it holds a lease that never expires.
        queued = [r for r in _runs(store, record.backfill_id) if r.state == "queued"]
        with store.engine.begin() as conn:
            conn.execute(
                update(t.runs)
                .where(t.runs.c.run_id == queued[-1].run_id)
                .values(
                    state="running",
                    lease_owner=_dead_owner(),
                    lease_epoch=1,
                    lease_expires_at=datetime.now(UTC) + timedelta(days=1),
                )
            )
    finally:
        store.close()
    done_before = len(proj.lines())
    dry = proj.invoke("backfill", "daily", "--start", "2026-01-01", "--end", "2026-01-10", "--dry-run")
    assert f"an unfinished backfill {record.backfill_id} of this range exists" in dry.stdout

    result = proj.invoke("backfill", "daily", "--start", "2026-01-01", "--end", "2026-01-10")
    assert result.exit_code == 0, result.output
    assert f"resuming backfill {record.backfill_id} of daily" in result.stdout
    assert len(proj.lines()) > done_before
    days = [f"2026-01-{d:02d}" for d in range(1, 11)]
    assert Counter(proj.lines()) == Counter([f"{task} {day}" for day in days for task in "ab"])  # each once
    store = proj.store()
    try:
        runs = _runs(store, record.backfill_id)
        assert len(runs) == 10 and {r.state for r in runs} == {"success"}
        assert backfills.get(store, record.backfill_id).state == "success"  # type: ignore[union-attr]
        with store.engine.connect() as conn:
            assert len(conn.execute(select(t.backfills)).all()) == 1  # resumed, not started over
    finally:
        store.close()


# -- the lane -----------------------------------------------------------------------------------------


class FrozenClock(FakeClock):
    """Time moves only when the test advances it; waits are real.

    Several runs share the scheduler's clock: a FakeClock would jump ahead for each
    of them, and their leases would expire under them.
    """

    def wait(self, events: queue.SimpleQueue[T], timeout: float | None, *, idle: bool) -> T | None:
        try:
            return events.get(timeout=timeout)
        except queue.Empty:
            return None


class ThreadExecutor(Executor):
    """Each try on its own thread: no capacity of its own, so the settings' concurrency is the budget."""

    name = "threads"

    def start(self, emit: EventSink) -> None:
        self._emit = emit

    def submit(self, submission: TaskSubmission) -> None:
        threading.Thread(target=execute_submission, args=(submission, self._emit), daemon=True).start()

    def check_health(self) -> ExecutorHealth:
        return ExecutorHealth(True, "threads")

    def cancel(self, key: TaskKey) -> None:
        pass


HELD = """
import time
from pathlib import Path
from headwater import Pipeline, task

ROOT = Path(__file__).resolve().parent.parent

@task
def hold(ctx):
    day = ctx.logical_date.date()
    with (ROOT / "started.txt").open("a") as f:
        f.write(f"{day}\\n")
    deadline = time.monotonic() + 60
    while not (ROOT / "gate").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    with (ROOT / "out.txt").open("a") as f:
        f.write(f"{day}\\n")

with Pipeline("held", schedule="@daily", start_date="2025-01-01", end_date="2025-03-31"):
    hold()
"""
HOURLY = """
from pathlib import Path
from headwater import Pipeline, task

ROOT = Path(__file__).resolve().parent.parent

@task
def tick(ctx):
    with (ROOT / "ticks.txt").open("a") as f:
        f.write(f"{ctx.logical_date.isoformat()}\\n")

with Pipeline("hourly", schedule="@hourly", start_date="2026-01-01T00:00"):
    tick()
"""


@pytest.fixture
def lane_project(tmp_path: Path, empty_db_url: str) -> Iterator[Proj]:
    proj = Proj(tmp_path / "proj", db=empty_db_url, extra="concurrency = 4\n")
    proj.write("held.py", HELD)
    proj.write("hourly.py", HOURLY)
    yield proj
    (proj.root / "gate").touch()  # never leave a task waiting


def test_a_scheduled_run_starts_on_time_while_a_backfill_holds_its_whole_budget(lane_project: Proj) -> None:
    proj = lane_project
    project = proj.project()
    held, hourly = proj.pipeline("held"), proj.pipeline("hourly")
    store = proj.store()
    clock = FrozenClock(start=_day("2026-01-01T00:30").timestamp())
    try:
        plan = plan_backfill(held, datetime(2025, 1, 1), datetime(2025, 3, 31), parallelism=5)
        assert len(plan.intervals) == 90
        record = create_backfill(store, plan, executor_name="threads", now=clock.now())
        with store.engine.begin() as conn:  # held's own schedule is caught up: only the backfill runs it
            lock_pipeline(conn, held.id, held.file)
            set_cursor(conn, held.id, _day("2025-04-01"))
        # concurrency 4: the backfill lane may run 2 tries at once, scheduled runs the rest
        # the test moves the clock by 30 minutes at once: leases must outlive that jump
        options = SchedulerOptions(lease_ttl=86400)
        scheduler = Scheduler(
            project, store=store, executor=ThreadExecutor(), clock=clock, options=options, pipelines=[held, hourly]
        )
        ran_to_the_end = False
        try:
            scheduler.step()
            _wait_for(lambda: len(proj.lines("started.txt")) == 2, "two backfill tries to start")
            runs = _runs(store, record.backfill_id)
            in_flight = [r for r in runs if r.state == "running"]
            assert len(in_flight) == 5  # the backfill's parallelism
            assert sum(len(store.tries(r.run_id)) for r in in_flight) == 2  # its lane's whole budget
            assert store.list_runs("hourly") == []  # nothing is due before 01:00

            clock.advance(30 * 60)  # 01:00: the 00:00-01:00 interval of `hourly` is due
            scheduler.step()
            scheduled = store.get_run(scheduled_run_id("hourly", _day("2026-01-01T00:00")))
            assert scheduled is not None and scheduled.trigger == "schedule" and scheduled.lane == "default"
            assert scheduled.state != "queued"  # created and started in the pass it became due
            _wait_for(lambda: proj.lines("ticks.txt") == ["2026-01-01T00:00:00+00:00"], "the scheduled task to run")
            assert store.tries(scheduled.run_id)[0].task_id == "tick"
            # ... while the backfill still holds its budget: the same five runs in flight, two tries, none done
            runs = _runs(store, record.backfill_id)
            assert [r.run_id for r in runs if r.state == "running"] == [r.run_id for r in in_flight]
            assert sum(len(store.tries(r.run_id)) for r in in_flight) == 2
            assert proj.lines("out.txt") == [] and len(proj.lines("started.txt")) == 2

            (proj.root / "gate").touch()
            scheduler.run_forever(exit_when_idle=True)  # shuts the scheduler down when idle
            ran_to_the_end = True
        finally:
            if not ran_to_the_end:
                (proj.root / "gate").touch()
                scheduler.stop()
                scheduler.shutdown()
        assert pending_runs(store, [held.id], backfill_id=record.backfill_id) == 0
        assert {r.state for r in _runs(store, record.backfill_id)} == {"success"}
        assert sorted(proj.lines("out.txt")) == sorted(str(i.start.date()) for i in plan.intervals)  # each once
    finally:
        store.close()


def test_plan_refuses_an_unknown_strategy_and_no_parallelism(proj: Proj) -> None:
    proj.daily()
    pipeline = proj.pipeline("daily")
    with pytest.raises(UsageError, match="unknown backfill strategy 'sideways'"):
        plan_backfill(pipeline, datetime(2026, 1, 1), datetime(2026, 1, 2), strategy="sideways")
    with pytest.raises(UsageError, match="parallelism must be at least 1"):
        plan_backfill(pipeline, datetime(2026, 1, 1), datetime(2026, 1, 2), parallelism=0)


def test_tasks_know_they_run_in_a_backfill_through_ctx_lane(proj: Proj) -> None:
    proj.write(
        "lanes.py",
        """
from pathlib import Path
from headwater import Pipeline, task

@task
def where(ctx):
    with (Path(__file__).resolve().parent.parent / "lanes.txt").open("a") as f:
        f.write(f"{ctx.lane}\\n")

with Pipeline("lanes", schedule="@daily", start_date="2026-01-01"):
    where()
""",
    )
    assert proj.invoke("backfill", "lanes", "--start", "2026-01-01", "--end", "2026-01-02").exit_code == 0
    assert proj.invoke("run", "lanes", "-q").exit_code == 0
    assert proj.lines("lanes.txt") == ["backfill", "backfill", "default"]
