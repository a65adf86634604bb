"""The scheduler: runs created on time and exactly once, max_active_runs, catch-up, several schedulers."""

from __future__ import annotations

import os
import textwrap
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from headwater.config.settings import load_project
from headwater.engine.clock import FakeClock, SystemClock
from headwater.engine.scheduler import Scheduler, SchedulerOptions, starvation_warnings
from headwater.executors.inline import InlineExecutor
from headwater.store import tables as t
from headwater.store.database import connect
from headwater.store.repository import Store

HOURLY = """
from pathlib import Path
from headwater import Pipeline, task

OUT = Path(__file__).resolve().parent.parent / "executed"

@task
def work(ctx):
    OUT.mkdir(exist_ok=True)
    marker = OUT / f"{ctx.run_id}.{ctx.task_id}"
    with marker.open("x"):  # raises FileExistsError if this task ever runs twice in a run
        pass
    return ctx.logical_date.isoformat()

@task
def after(value):
    return value

with Pipeline("{pid}", schedule="@hourly", start_date="2026-01-01", catchup={catchup},
              max_active_runs={mar}{extra}):
    after(work())
"""


def _project(root: Path, db: str, pipelines: dict[str, str]) -> Path:
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "headwater.toml").write_text(f'db = "{db}"\n', encoding="utf-8")
    for name, source in pipelines.items():
        (root / "pipelines" / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return root


def _hourly(pid: str, *, catchup: bool = False, mar: int = 1, extra: str = "") -> str:
    return (
        HOURLY.replace("{pid}", pid)
        .replace("{catchup}", str(catchup))
        .replace("{mar}", str(mar))
        .replace("{extra}", extra)
    )


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _runs(store: Store) -> list[tuple[str, str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(t.runs.c.run_id, t.runs.c.state, t.runs.c.trigger).order_by(t.runs.c.logical_date)
        ).all()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def _scheduler(root: Path, clock: FakeClock | SystemClock, **options: object) -> tuple[Scheduler, Store]:
    project = load_project(root, environ={})
    store = Store(connect(project.settings.db, base_dir=root))
    opts = SchedulerOptions(**options)  # type: ignore[arg-type]
    return Scheduler(project, store=store, executor=InlineExecutor(), clock=clock, options=opts), store


def _drain(scheduler: Scheduler) -> None:
    """Step until nothing is left to do (bounded)."""
    for _ in range(200):
        scheduler.step()
        for item in list(scheduler.active.values()):
            item.thread.join(30)
        if scheduler.idle():
            scheduler.step()  # reap
            return
    raise AssertionError("the scheduler did not become idle")


def test_without_catchup_only_the_latest_interval_runs(tmp_path: Path) -> None:
    root = _project(tmp_path, "sqlite:///.headwater/hw.db", {"p": _hourly("hourly")})
    clock = FakeClock(_at("2026-01-01T05:30:00"))
    scheduler, store = _scheduler(root, clock)
    try:
        _drain(scheduler)
        assert _runs(store) == [("hourly-20260101T040000-scheduled", "success", "schedule")]
        # Half an hour later the 05:00-06:00 interval has ended: exactly one more run.
        clock.advance(1800)
        _drain(scheduler)
        _drain(scheduler)  # a second pass at the same time creates nothing
        assert [r[0] for r in _runs(store)] == [
            "hourly-20260101T040000-scheduled",
            "hourly-20260101T050000-scheduled",
        ]
    finally:
        scheduler.shutdown()
        store.close()


def test_the_next_pass_is_due_when_the_next_interval_ends(tmp_path: Path) -> None:
    root = _project(tmp_path, "sqlite:///.headwater/hw.db", {"p": _hourly("hourly")})
    clock = FakeClock(_at("2026-01-01T05:30:00"))
    scheduler, store = _scheduler(root, clock, tick=3600.0, parse_interval=3600.0, lease_ttl=7200.0)
    try:
        _drain(scheduler)
        wait = scheduler.step()
        assert wait == pytest.approx(1800.0)  # sleeps until 06:00, not a fixed tick
    finally:
        scheduler.shutdown()
        store.close()


def test_catchup_creates_every_missed_interval_and_respects_max_active_runs(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        "sqlite:///.headwater/hw.db",
        {"p": _hourly("hourly", catchup=True, mar=2, extra=", end_date='2026-01-01T05:00'")},
    )
    clock = FakeClock(_at("2026-01-02T00:00:00"))
    scheduler, store = _scheduler(root, clock)
    running_seen: list[int] = []
    try:
        for _ in range(50):
            scheduler.step()
            with store.engine.connect() as conn:
                running_seen.append(len(conn.execute(select(t.runs.c.run_id).where(t.runs.c.state == "running")).all()))
            for item in list(scheduler.active.values()):
                item.thread.join(30)
            if scheduler.idle():
                break
        runs = _runs(store)
        assert [r[0] for r in runs] == [f"hourly-20260101T0{h}0000-scheduled" for h in range(6)]
        assert all(state == "success" for _, state, _ in runs)
        assert max(running_seen) <= 2
    finally:
        scheduler.shutdown()
        store.close()


def test_three_schedulers_with_skewed_clocks_create_and_dispatch_every_run_exactly_once(
    tmp_path: Path, empty_db_url: str
) -> None:
    """200 due runs (20 pipelines x 10 hourly intervals), 3 schedulers sharing one database.

    On PostgreSQL their clocks disagree by 90 s (more than the lease TTL): leases are
    kept on the database's clock, so skew cannot make two schedulers drive one run.
    Schedulers sharing SQLite share a machine, hence a clock.
    """
    db_url = empty_db_url
    skews = (-45.0, 0.0, 45.0) if db_url.startswith("postgresql") else (0.0, 0.0, 0.0)
    extra = ", end_date='2026-01-01T09:00'"
    sources = {f"p{i:02d}": _hourly(f"p{i:02d}", catchup=True, mar=4, extra=extra) for i in range(20)}
    root = _project(tmp_path, db_url, sources)

    class Skewed(SystemClock):
        def __init__(self, offset: float) -> None:
            self.offset = offset

        def now(self) -> float:
            return super().now() + self.offset

    schedulers = []
    stores = []
    for offset in skews:
        scheduler, store = _scheduler(root, Skewed(offset), tick=0.05, parse_interval=60.0)
        schedulers.append(scheduler)
        stores.append(store)
    errors: list[BaseException] = []

    def drive(scheduler: Scheduler) -> None:
        try:
            scheduler.run_forever(exit_when_idle=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drive, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(240)
    try:
        assert not errors
        assert not any(thread.is_alive() for thread in threads)
        runs = _runs(stores[0])
        assert len(runs) == 200
        with stores[0].engine.connect() as conn:
            failures = conn.execute(
                select(t.task_tries.c.run_id, t.task_tries.c.task_id, t.task_tries.c.error).where(
                    t.task_tries.c.state != "success"
                )
            ).all()
        assert Counter(state for _, state, _ in runs) == Counter({"success": 200}), failures
        executed = sorted(p.name for p in (root / "executed").iterdir())
        assert len(executed) == 200  # "work" ran once per run: a second execution would have failed the run
        with stores[0].engine.connect() as conn:
            tries = conn.execute(select(t.task_tries.c.try_number)).scalars().all()
        assert len(tries) == 400 and set(tries) == {1}  # every task dispatched exactly once
        with stores[0].engine.connect() as conn:
            states = conn.execute(select(t.task_instances.c.state, t.task_instances.c.try_number)).all()
        assert sorted(set(states)) == [("success", 1)] and len(states) == 400
        drivers = Counter(sum(1 for _ in s.finished) for s in schedulers)
        assert sum(len(s.finished) for s in schedulers) == 200, drivers
    finally:
        for store in stores:
            store.close()


def test_a_starving_pool_configuration_is_reported_at_load(tmp_path: Path) -> None:
    from headwater import Pipeline, task
    from headwater.builtins.sensors import FileSensor

    @task(pool="db")
    def produce(ctx: object) -> None:
        return None

    # The seed scenario: sensors wait (in the pool) for a file that a task of the same pool writes.
    with Pipeline("starve") as p:
        [FileSensor(f"wait_{i}", path=str(tmp_path / "x"), pool="db") for i in range(2)]
        produce()
    [warning] = starvation_warnings(p, {"db": 2})
    assert "2 sensor(s) in poke mode (wait_0, wait_1)" in warning and "task 'produce'" in warning
    assert starvation_warnings(p, {"db": 3}) == []  # a slot is always left for produce

    with Pipeline("ordered") as q:  # the sensors finish before the task starts: no starvation
        [FileSensor(f"wait_{i}", path=str(tmp_path / "x"), pool="db") for i in range(2)] >> produce()
    assert starvation_warnings(q, {"db": 2}) == []

    with Pipeline("fine") as r:
        [FileSensor(f"wait_{i}", path=str(tmp_path / "x"), pool="db", mode="reschedule") for i in range(2)]
        produce()
    assert starvation_warnings(r, {"db": 2}) == []


def test_scheduler_runs_honour_the_database_unique_run_id(tmp_path: Path) -> None:
    """Inserting the same scheduled run twice is a no-op decided by the database."""
    from headwater.engine.run import new_task_instances
    from headwater.model.pipeline import Pipeline
    from headwater.store.leases import insert_run_if_absent
    from headwater.store.records import RunRecord

    with Pipeline("dup") as p:
        pass
    store = Store(connect(f"sqlite:///{tmp_path / 'hw.db'}"))
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    record = RunRecord("dup-x", "dup", None, "queued", moment, moment, moment, created_at=moment)
    try:
        with store.engine.begin() as conn:
            assert insert_run_if_absent(conn, record, new_task_instances(p, "dup-x"))
        with store.engine.begin() as conn:
            assert not insert_run_if_absent(conn, record, new_task_instances(p, "dup-x"))
    finally:
        store.close()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HEADWATER_") and name not in ("HEADWATER_TEST_DB", "HEADWATER_REQUIRE_SERVICES"):
            monkeypatch.delenv(name)


def test_a_manual_trigger_with_params_is_queued_for_the_scheduler(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from headwater.cli.app import cli

    source = """
    from headwater import Pipeline, task

    @task
    def greet(ctx):
        return f"hello {ctx.params['who']}"

    with Pipeline("manual", params={"who": "world"}):
        greet()
    """
    root = _project(tmp_path, "sqlite:///.headwater/hw.db", {"manual": source})
    result = CliRunner().invoke(
        cli, ["--project", str(root), "run", "manual", "--queue", "--executor", "inline", "-p", "who=ops"]
    )
    assert result.exit_code == 0, result.output
    scheduler, store = _scheduler(root, FakeClock())
    try:
        with store.engine.connect() as conn:
            [(state, owner)] = conn.execute(select(t.runs.c.state, t.runs.c.lease_owner)).all()
        assert (state, owner) == ("queued", None)  # nothing ran: it waits for a scheduler
        _drain(scheduler)
        [(run_id, state, trigger)] = _runs(store)
        assert (state, trigger) == ("success", "manual")
        assert store.results(run_id)["greet"][1] == '"hello ops"'
    finally:
        scheduler.shutdown()
        store.close()


def test_a_run_left_queued_by_a_process_that_died_is_taken_over(tmp_path: Path) -> None:
    """``headwater run`` killed right after creating its run: the scheduler starts the run itself."""
    import socket
    import subprocess
    import sys

    from headwater.engine.run import RunEngine

    root = _project(tmp_path, "sqlite:///.headwater/hw.db", {"p": _hourly("hourly")})
    scheduler, store = _scheduler(root, FakeClock(_at("2026-01-01T00:30:00")))
    try:
        scheduler.step()  # loads the pipeline (nothing is due yet)
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        owner = f"{socket.gethostname()}:{int(dead.stdout)}:gone"
        pipeline = scheduler.known["hourly"].pipeline
        engine = RunEngine(pipeline, store, InlineExecutor(), clock=FakeClock(_at("2026-01-01T00:30:00")), owner=owner)
        record = engine.create_run(logical_date=datetime(2025, 12, 31, tzinfo=UTC))
        _drain(scheduler)
        assert (record.run_id, "success", "manual") in _runs(store)
    finally:
        scheduler.shutdown()
        store.close()
