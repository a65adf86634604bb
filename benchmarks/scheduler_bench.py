"""Scheduler workloads S1-S3, one measurement per process (run by benchmarks/run.py; usable alone).

    python benchmarks/scheduler_bench.py S1 --db sqlite|postgresql [--json OUT] [--profile OUT]
    python benchmarks/scheduler_bench.py S2 --executor local|process [--json OUT] [--profile OUT]
    python benchmarks/scheduler_bench.py S3 --db sqlite|postgresql [--json OUT] [--profile OUT]

S1  one ``Scheduler.step()`` over 1,000 scheduled pipelines and 100,000 stored task instances
S2  task-to-task latency of a 50-task chain driven by the Scheduler (from the store's tries)
S3  10,000 no-op tasks: 100 queued runs of a 10 x 10 layered pipeline, one Scheduler until idle

Each builds its project under benchmarks/.work/sched-* (PostgreSQL: a throwaway database, dropped at
the end), times in-process only the part it is about, and writes one JSON object (stdout, or OUT):
``{"metrics": {name: {"value", "unit", "target", "higher_is_better", "what"}}, "info": {...}}``, or
``{"skipped": reason}``. With ``--profile OUT`` the timed part runs under cProfile, every thread
profiled (``OUT.main.prof``, ``OUT.workers.prof``), as benchmarks/driver.py does for whole processes.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import logging
import os
import secrets
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater.config.settings import Project
    from headwater.engine.scheduler import Scheduler
    from headwater.store.repository import Store

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
#: The PostgreSQL server throwaway databases are created on (BENCH_PG_SERVER overrides: postgresql://user@host:port).
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
PG_ADMIN = f"{PG_SERVER}/postgres"
PG_BASE = PG_SERVER.replace("postgresql://", "postgresql+psycopg://", 1)

# S1: 1,000 pipelines x 20 finished runs x 5 tasks = 100,000 task instances (and as many tries).
S1_PIPELINES = 1000
S1_RUNS_EACH = 20
S1_TASKS = 5
#: The fake "now" of S1: half a minute past an hour. Every schedule fires at minute 5 or later, so
#: nothing is due for 4.5 minutes: room for the idle and re-scan ticks.
S1_NOW = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)
S1_IDLE_TICKS = 60
S1_RESCAN_TICKS = 20
S1_DUE_TICKS = 5
S2_CHAIN = 50
S2_RUNS = 3  # counted runs, after one uncounted warm-up run
S3_RUNS = 100
S3_LAYERS = 10
S3_WIDTH = 10

TICK_TARGET = 0.050
LATENCY_TARGETS = {"local": 0.010, "process": 0.025}


# -- results ----------------------------------------------------------------------------------------------------
@dataclass
class Report:
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def metric(
        self, name: str, value: float, what: str, *, unit: str = "ms", target: float | None = None, higher: bool = False
    ) -> None:
        """Record ``value`` (seconds for ``ms``/``s`` units, converted for display by run.py)."""
        self.metrics[name] = {"value": value, "unit": unit, "target": target, "higher_is_better": higher, "what": what}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# -- profiling --------------------------------------------------------------------------------------------------
class Profiler:
    """cProfile for the timed parts only: the main thread inside ``timed()`` blocks, and every thread started
    inside one (benchmarks/driver.py's approach, applied to part of a process)."""

    def __init__(self, out: str | None) -> None:
        self.out = out
        self.main = cProfile.Profile() if out else None
        self.workers: list[cProfile.Profile] = []

    def _thread_hook(self, *_: object) -> None:
        sys.setprofile(None)
        prof = cProfile.Profile()
        self.workers.append(prof)
        prof.enable()

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        if self.main is None:
            yield
            return
        threading.setprofile(self._thread_hook)
        self.main.enable()
        try:
            yield
        finally:
            self.main.disable()
            threading.setprofile(None)

    def dump(self) -> None:
        if self.main is None or self.out is None:
            return
        import pstats

        self.main.dump_stats(f"{self.out}.main.prof")
        if self.workers:
            for prof in self.workers:
                prof.disable()
                prof.create_stats()
            pstats.Stats(*self.workers).dump_stats(f"{self.out}.workers.prof")


# -- projects and databases -------------------------------------------------------------------------------------
class Unreachable(Exception):  # noqa: N818 - a condition reported as "skipped"
    """The database server of a measurement cannot be reached."""


class Database:
    """The metadata database of one measurement: a SQLite file in the project, or a throwaway PostgreSQL one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name: str | None = None
        self._admin: Any = None

    def url(self, root: Path) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{root / '.headwater' / 'headwater.db'}"
        try:
            import psycopg

            self._admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
        except Exception as exc:  # ImportError (no psycopg) or OperationalError (no server)
            reason = " ".join(str(exc).split())
            raise Unreachable(f"PostgreSQL is not reachable at {PG_ADMIN}: {type(exc).__name__}: {reason}") from None
        self.name = f"hw_bench_{secrets.token_hex(5)}"
        self._admin.execute(f'CREATE DATABASE "{self.name}"')
        return f"{PG_BASE}/{self.name}"

    def drop(self) -> None:
        if self._admin is not None:
            if self.name:
                self._admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._admin.close()


def make_project(name: str, db: str, files: dict[str, str], settings: str = "") -> Project:
    """A fresh project under .work/ with ``files`` in pipelines/ and the database URL ``db``."""
    from headwater.config.settings import load_project

    root = WORK / name
    shutil.rmtree(root, ignore_errors=True)
    (root / "pipelines").mkdir(parents=True)
    (root / "headwater.toml").write_text(f"db = {json.dumps(db)}\n{settings}")
    for filename, source in files.items():
        (root / "pipelines" / filename).write_text(source)
    return load_project(root, environ={})


def project_db(root: Path, db: Database) -> str:
    shutil.rmtree(root, ignore_errors=True)  # a stale SQLite file must not survive into the new project
    return db.url(root)


def open_store(project: Project) -> Store:
    from headwater.engine.launch import open_store as open_project_store

    return open_project_store(project)


NOOP = "from headwater import Pipeline, PythonOperator\n\n\ndef noop() -> None:\n    return None\n\n\n"


# -- S1 ---------------------------------------------------------------------------------------------------------
def s1_schedule(i: int) -> str:
    """Half hourly, half daily; minutes 5-59 and hours spread, so nothing fires in the first 5 minutes of
    an hour and about nine pipelines fire in each later minute."""
    minute = 5 + i % 55
    return f"{minute} * * * *" if i % 2 == 0 else f"{minute} {(i // 2) % 24} * * *"


def s1_file(i: int) -> str:
    tasks = ", ".join(f'PythonOperator("t{k}", fn=noop)' for k in range(S1_TASKS))
    return NOOP + (
        f'with Pipeline("p{i:04d}", schedule="{s1_schedule(i)}", start_date="2026-01-01"):\n'
        f"    chain = [{tasks}]\n"
        "    for up, down in zip(chain, chain[1:], strict=False):\n"
        "        up >> down\n"
    )


def s1_history(store: Store, root: Path) -> dict[str, int]:
    """Insert 20 finished runs per pipeline (every task and try succeeded) and each pipeline's catch-up
    cursor, with bulk inserts: the store as a scheduler that ran for a while leaves it."""
    from sqlalchemy import insert

    from headwater.engine.scheduler import scheduled_run_id
    from headwater.model.timetable import Timetable
    from headwater.store import tables as t

    runs: list[dict[str, Any]] = []
    instances: list[dict[str, Any]] = []
    tries: list[dict[str, Any]] = []
    pipelines: list[dict[str, Any]] = []
    for i in range(S1_PIPELINES):
        pid, file = f"p{i:04d}", str((root / "pipelines" / f"p{i:04d}.py").resolve())
        cron = s1_schedule(i)
        span = timedelta(hours=S1_RUNS_EACH + 1) if cron.split()[1] == "*" else timedelta(days=S1_RUNS_EACH + 1)
        intervals = Timetable(cron, UTC).intervals_between(S1_NOW - span, S1_NOW)
        intervals = [iv for iv in intervals if iv.end <= S1_NOW][-S1_RUNS_EACH:]
        for iv in intervals:
            run_id = scheduled_run_id(pid, iv.start)
            started = iv.end + timedelta(seconds=1)
            ended = started + timedelta(seconds=S1_TASKS)
            runs.append(
                {
                    "run_id": run_id,
                    "pipeline_id": pid,
                    "pipeline_file": file,
                    "state": "success",
                    "logical_date": iv.start,
                    "interval_start": iv.start,
                    "interval_end": iv.end,
                    "params": "{}",
                    "trigger": "schedule",
                    "executor": "local",
                    "created_at": iv.end,
                    "started_at": started,
                    "ended_at": ended,
                    "lane": "default",
                    "lease_epoch": 1,
                }
            )
            for k in range(S1_TASKS):
                begin, end = started + timedelta(seconds=k), started + timedelta(seconds=k + 0.5)
                times = {"started_at": begin, "ended_at": end, "duration": 0.5}
                instances.append(
                    {"run_id": run_id, "task_id": f"t{k}", "pipeline_id": pid, "state": "success", "try_number": 1}
                    | {"max_tries": 1, "priority": 1, **times}
                )
                tries.append(
                    {"run_id": run_id, "task_id": f"t{k}", "try_number": 1, "pipeline_id": pid, "state": "success"}
                    | {"queued_at": begin, **times}
                )
        pipelines.append(
            {"pipeline_id": pid, "file": file, "lock": 0, "last_interval_end": intervals[-1].end, "paused": False}
        )
    chunk = 5000
    with store.engine.begin() as conn:
        for table, rows in (
            (t.pipelines, pipelines),
            (t.runs, runs),
            (t.task_instances, instances),
            (t.task_tries, tries),
        ):
            for start in range(0, len(rows), chunk):
                conn.execute(insert(table), rows[start : start + chunk])
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    return {"runs": len(runs), "task_instances": len(instances), "tries": len(tries)}


def drain(sched: Scheduler, timeout: float = 120.0) -> None:
    """Step (without moving the fake clock) until every run the scheduler started has finished."""
    deadline = time.monotonic() + timeout
    while sched.active:
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs still active after {timeout:.0f} s: {sorted(sched.active)}")
        sched.wake.wait(0.05)
        sched.wake.clear()
        sched.step()


def s1(db_kind: str, profiler: Profiler) -> Report:
    """One tick over 1,000 pipelines and 100,000 stored task instances: idle (nothing due, files not checked),
    re-scan (nothing due; the 1,000 unchanged files are checked and the heartbeat renewed), and due
    (about ten runs become due: the tick creates them, claims them and starts their threads; the file
    check falls in an unmeasured tick just before)."""
    from headwater.engine.clock import FakeClock
    from headwater.engine.launch import load_executor
    from headwater.engine.scheduler import Scheduler

    report = Report()
    db = Database(db_kind)
    root = WORK / f"sched-s1-{db_kind}"
    try:
        url = project_db(root, db)
        project = make_project(root.name, url, {f"p{i:04d}.py": s1_file(i) for i in range(S1_PIPELINES)})
        store = open_store(project)
        began = time.perf_counter()
        stored = s1_history(store, project.root)
        report.info["stored"] = ", ".join(f"{n:,} {name}" for name, n in stored.items())
        report.info["setup_insert_s"] = round(time.perf_counter() - began, 2)

        clock = FakeClock(start=S1_NOW.timestamp())
        executor = load_executor("local", parallelism=project.settings.concurrency)
        sched = Scheduler(project, store=store, executor=executor, clock=clock)
        began = time.perf_counter()
        sched.step()  # imports the 1,000 files, reads every pipeline's cursor once
        report.info["first_pass_s"] = round(time.perf_counter() - began, 3)
        if sched.load_errors or len(sched.known) != S1_PIPELINES:
            raise RuntimeError(f"loaded {len(sched.known)} pipelines; errors: {sched.load_errors[:3]}")
        for _ in range(3):  # warm-up
            clock.advance(0.001)
            sched.step()

        def ticks(count: int, advance: float) -> list[float]:
            samples = []
            for _ in range(count):
                clock.advance(advance)
                began = time.perf_counter()
                with profiler.timed():
                    sched.step()
                samples.append(time.perf_counter() - began)
                if sched.active:
                    raise RuntimeError(f"a run started in a tick meant to be idle: {sorted(sched.active)}")
            return samples

        idle = ticks(S1_IDLE_TICKS, 0.001)
        rescan = ticks(S1_RESCAN_TICKS, sched.options.parse_interval)
        report.metric("idle tick", statistics.median(idle), "nothing due, no file check", target=TICK_TARGET)
        report.metric("idle tick p95", p95(idle), "p95 of the idle ticks")
        report.metric(
            "re-scan tick", statistics.median(rescan), "nothing due; 1,000 unchanged files checked", target=TICK_TARGET
        )
        report.metric("re-scan tick p95", p95(rescan), "p95 of the re-scan ticks")

        due: list[float] = []
        created = 0
        for minute in range(S1_DUE_TICKS):
            before = len(sched.finished)
            due_at = (S1_NOW.replace(second=0) + timedelta(minutes=5 + minute)).timestamp()
            clock.current = due_at - 0.5
            sched.step()  # the file check falls here, not in the measured tick
            clock.current = due_at
            began = time.perf_counter()
            with profiler.timed():
                sched.step()
            due.append(time.perf_counter() - began)
            created += len(sched.active)
            drain(sched)
            if any(s.state != "success" for _, s in sched.finished[before:]):
                raise RuntimeError(f"a due run did not succeed: {sched.finished[before:]}")
        report.metric(
            "due tick",
            statistics.median(due),
            f"~{created // S1_DUE_TICKS} runs due: created, claimed, threads started (no file check)",
        )
        report.info["due_runs"] = created
        sched.stop()
        sched.shutdown()
        store.close()
    finally:
        db.drop()
    profiler.dump()
    return report


# -- S2 ---------------------------------------------------------------------------------------------------------
def chain_file(pipeline_id: str, length: int, max_active_runs: int) -> str:
    return NOOP + (
        f'with Pipeline("{pipeline_id}", max_active_runs={max_active_runs}):\n'
        "    previous = None\n"
        f"    for i in range({length}):\n"
        '        current = PythonOperator(f"t{i:03d}", fn=noop)\n'
        "        if previous is not None:\n"
        "            previous >> current\n"
        "        previous = current\n"
    )


def layered_file(pipeline_id: str, layers: int, width: int, max_active_runs: int) -> str:
    return NOOP + (
        f'with Pipeline("{pipeline_id}", max_active_runs={max_active_runs}):\n'
        "    previous_layer: list[PythonOperator] = []\n"
        f"    for layer in range({layers}):\n"
        f'        current_layer = [PythonOperator(f"l{{layer:02d}}_t{{i:02d}}", fn=noop) for i in range({width})]\n'
        "        if previous_layer:\n"
        "            for t in current_layer:\n"
        "                previous_layer >> t\n"
        "        previous_layer = current_layer\n"
    )


def queue_runs(store: Store, project: Project, pipeline_id: str, count: int) -> list[str]:
    """Queue ``count`` manual runs nobody holds yet (``headwater run --queue``), one minute apart in logical
    date: the scheduler claims them oldest first."""
    from headwater.engine.launch import queue_run
    from headwater.loader.files import load_file

    (pipeline,) = load_file(project.pipelines_dir / f"{pipeline_id}.py")
    base = datetime(2026, 11, 25, tzinfo=UTC)
    return [queue_run(project, pipeline, store, logical_date=base + timedelta(minutes=n)).run_id for n in range(count)]


def drive(project: Project, store: Store, executor_name: str, max_runs: int, profiler: Profiler) -> Scheduler:
    from headwater.engine.launch import load_executor
    from headwater.engine.scheduler import Scheduler, SchedulerOptions

    executor = load_executor(executor_name, parallelism=project.settings.concurrency)
    sched = Scheduler(
        project,
        store=store,
        executor=executor,
        create_runs=False,
        options=SchedulerOptions(max_runs=max_runs),
    )
    with profiler.timed():
        sched.run_forever(exit_when_idle=True)
    return sched


def check_success(store: Store, run_ids: list[str], tasks: int) -> None:
    from sqlalchemy import func, select

    from headwater.store import tables as t

    ti = t.task_instances.c
    with store.engine.connect() as conn:
        done = conn.execute(select(func.count()).where(ti.run_id.in_(run_ids), ti.state == "success")).scalar_one()
    if done != len(run_ids) * tasks:
        raise RuntimeError(f"{done} of {len(run_ids) * tasks} task instances succeeded")


def s2(executor_name: str, profiler: Profiler) -> Report:
    """Latency from a try's end to the next task's try start (both from hw_task_tries), through the
    Scheduler: one uncounted warm-up run, then S2_RUNS runs of a 50-task chain, one after the other."""
    from headwater.engine.launch import load_executor

    try:
        load_executor(executor_name).shutdown(wait=False)
    except Exception as exc:
        return Report(info={"skipped": f"executor {executor_name!r} not installed ({exc})"})
    report = Report()
    db = Database("sqlite")
    root = WORK / f"sched-s2-{executor_name}"
    url = project_db(root, db)
    project = make_project(root.name, url, {"chain.py": chain_file("chain", S2_CHAIN, 1)})
    store = open_store(project)
    run_ids = queue_runs(store, project, "chain", 1 + S2_RUNS)
    began = time.perf_counter()
    drive(project, store, executor_name, 1, profiler)
    elapsed = time.perf_counter() - began
    check_success(store, run_ids, S2_CHAIN)
    latencies: list[float] = []
    to_queued: list[float] = []  # upstream ended -> next try queued: the event reaches the engine, which decides
    to_started: list[float] = []  # queued -> started: the group commit, the submit, the executor's start
    durations: list[float] = []
    for run_id in run_ids[1:]:
        tries = {tr.task_id: tr for tr in store.tries(run_id)}
        for i in range(1, S2_CHAIN):
            up, down = tries[f"t{i - 1:03d}"], tries[f"t{i:03d}"]
            assert up.ended_at is not None and down.queued_at is not None and down.started_at is not None
            latencies.append(down.started_at - up.ended_at)
            to_queued.append(down.queued_at - up.ended_at)
            to_started.append(down.started_at - down.queued_at)
        durations += [tr.duration for tr in tries.values() if tr.duration is not None]
    store.close()
    target = LATENCY_TARGETS.get(executor_name)
    report.metric("latency", statistics.median(latencies), "next try started - upstream try ended", target=target)
    report.metric("latency p95", p95(latencies), f"p95 of {len(latencies)} task-to-task gaps")
    report.metric("latency max", max(latencies), "the slowest gap")
    report.metric("ended -> queued", statistics.median(to_queued), "of the gap: event delivered, next task decided")
    report.metric("queued -> started", statistics.median(to_started), "of the gap: commit, submit, executor start")
    report.metric("try duration", statistics.median(durations), "a no-op try, started -> ended")
    report.info["wall_s"] = round(elapsed, 3)
    report.info["runs"] = 1 + S2_RUNS
    report.info["per_task_ms"] = round(elapsed / ((1 + S2_RUNS) * S2_CHAIN) * 1000, 1)
    profiler.dump()
    return report


# -- S3 ---------------------------------------------------------------------------------------------------------
def s3(db_kind: str, profiler: Profiler) -> Report:
    """10,000 no-op tasks: 100 queued runs of a 100-task pipeline (10 layers of 10, each task after every
    task of the previous layer), all allowed at once, driven by one Scheduler with the local executor."""
    report = Report()
    db = Database(db_kind)
    root = WORK / f"sched-s3-{db_kind}"
    tasks = S3_LAYERS * S3_WIDTH
    try:
        url = project_db(root, db)
        source = layered_file("layers", S3_LAYERS, S3_WIDTH, S3_RUNS)
        project = make_project(root.name, url, {"layers.py": source})
        store = open_store(project)
        run_ids = queue_runs(store, project, "layers", S3_RUNS)
        began = time.perf_counter()
        sched = drive(project, store, "local", S3_RUNS, profiler)
        elapsed = time.perf_counter() - began
        check_success(store, run_ids, tasks)
        store.close()
        report.metric("total", elapsed, f"{S3_RUNS} runs x {tasks} tasks, queued to all finished", unit="s")
        report.metric("throughput", S3_RUNS * tasks / elapsed, "tasks per second", unit="tasks/s", higher=True)
        report.info["concurrency"] = project.settings.concurrency
        report.info["finished_runs"] = len(sched.finished)
    finally:
        db.drop()
    profiler.dump()
    return report


# -- main -------------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=["S1", "S2", "S3"])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--executor", default="local")
    parser.add_argument("--json", help="write the result here (default: stdout)")
    parser.add_argument("--profile", metavar="OUT", help="profile the timed part: OUT.main.prof, OUT.workers.prof")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    WORK.mkdir(exist_ok=True)
    profiler = Profiler(args.profile)
    runners: dict[str, Callable[[], Report]] = {
        "S1": lambda: s1(args.db, profiler),
        "S2": lambda: s2(args.executor, profiler),
        "S3": lambda: s3(args.db, profiler),
    }
    try:
        report = runners[args.workload]()
        result: dict[str, Any] = {"metrics": report.metrics, "info": report.info}
        if "skipped" in report.info:
            result = {"skipped": report.info["skipped"]}
    except Unreachable as exc:
        result = {"skipped": str(exc)}
    text = json.dumps(result)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
