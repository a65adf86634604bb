"""Mapped tasks at scale: a run mapping 5,000 items on the local executor, and the scheduler tick over them.

    python benchmarks/mapped_bench.py [--items 5000] [--runs 3] [--db sqlite|postgresql] [--json OUT]

M1  ``headwater.engine.launch.run_pipeline`` of ``noop.map(items())`` (5,000 instances, local executor, default
    concurrency), timed in-process from the run's creation to its summary: wall time and instances/s.
M0  the same with 5,000 independent no-op tasks defined statically (a W1 scaled to 5,000): the baseline a
    mapped instance's cost is compared with.
T   ``Scheduler.step()`` idle ticks (nothing due, files not re-checked; FakeClock) on the same project before any
    run and after the runs, when the store holds every run's task instances (``--runs`` x 5,001 mapped ones).

Builds its project under benchmarks/.work/mapped-<db> (PostgreSQL: a throwaway database, dropped at the end) and
prints one JSON object (stdout, or OUT) plus a Markdown table on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scheduler_bench import WORK, Database, Unreachable, make_project, open_store, p95, project_db

IDLE_TICKS = 60

MAPPED = """
from headwater import Pipeline, task


@task
def items():
    return list(range({items}))


@task
def noop(item):
    return None


@task
def count(results):
    return len(results)


with Pipeline("mapped"):
    count(noop.map(items()))
"""

STATIC = """
from headwater import Pipeline, PythonOperator


def noop():
    return None


with Pipeline("static"):
    for i in range({items}):
        PythonOperator(f"t{{i}}", fn=noop)
"""


def idle_ticks(project: Any, store: Any) -> list[float]:
    from headwater.engine.clock import FakeClock
    from headwater.engine.launch import load_executor
    from headwater.engine.scheduler import Scheduler

    clock = FakeClock(start=time.time())
    executor = load_executor("local", parallelism=project.settings.concurrency)
    sched = Scheduler(project, store=store, executor=executor, clock=clock)
    sched.step()  # loads the files
    for _ in range(3):  # warm-up
        clock.advance(0.001)
        sched.step()
    samples = []
    for _ in range(IDLE_TICKS):
        clock.advance(0.001)
        began = time.perf_counter()
        sched.step()
        samples.append(time.perf_counter() - began)
        if sched.active:
            raise RuntimeError(f"a run started in an idle tick: {sorted(sched.active)}")
    sched.stop()
    sched.shutdown()
    return samples


def timed_run(project: Any, store: Any, pipeline_id: str, expect: int) -> float:
    from headwater.engine.launch import run_pipeline
    from headwater.loader.files import load_file

    (pipeline,) = load_file(project.pipelines_dir / f"{pipeline_id}.py")
    began = time.perf_counter()
    summary = run_pipeline(project, pipeline, store=store, executor="local")
    elapsed = time.perf_counter() - began
    if not summary.ok or len(summary.tasks) != expect:
        raise RuntimeError(f"{pipeline_id}: {summary.state} with {len(summary.tasks)} tasks (expected {expect})")
    return elapsed


def measure(db_kind: str, items: int, runs: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from headwater.store import tables as t

    db = Database(db_kind)
    root = WORK / f"mapped-{db_kind}"
    try:
        url = project_db(root, db)
        project = make_project(
            root.name, url, {"mapped.py": MAPPED.format(items=items), "static.py": STATIC.format(items=items)}
        )
        store = open_store(project)
        before = idle_ticks(project, store)
        mapped, static = [], []
        timed_run(project, store, "mapped", items + 3)  # warm-up: imports, first connections
        for _ in range(runs):
            mapped.append(timed_run(project, store, "mapped", items + 3))
            static.append(timed_run(project, store, "static", items))
        with store.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(t.task_instances)).scalar_one()
        after = idle_ticks(project, store)
        store.close()
    finally:
        db.drop()
    m, s = statistics.median(mapped), statistics.median(static)
    return {
        "db": db_kind,
        "items": items,
        "runs": runs,
        "mapped_run_s": {"median": m, "min": min(mapped), "max": max(mapped)},
        "mapped_instances_per_s": items / m,
        "static_run_s": {"median": s, "min": min(static), "max": max(static)},
        "static_tasks_per_s": items / s,
        "idle_tick_empty_ms": {"median": statistics.median(before) * 1e3, "p95": p95(before) * 1e3},
        "idle_tick_stored_ms": {"median": statistics.median(after) * 1e3, "p95": p95(after) * 1e3},
        "stored_task_instances": stored,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def table(r: dict[str, Any]) -> str:
    n = f"{r['items']:,}"
    rows = [
        (
            f"M1 {r['db']}",
            f"run mapping {n} items (local executor)",
            f"{r['mapped_run_s']['median']:.2f} s (min {r['mapped_run_s']['min']:.2f}, "
            f"max {r['mapped_run_s']['max']:.2f})",
            f"{r['mapped_instances_per_s']:,.0f} instances/s",
        ),
        (
            f"M0 {r['db']}",
            f"run of {n} static no-op tasks (baseline)",
            f"{r['static_run_s']['median']:.2f} s (min {r['static_run_s']['min']:.2f}, "
            f"max {r['static_run_s']['max']:.2f})",
            f"{r['static_tasks_per_s']:,.0f} tasks/s",
        ),
        (
            f"T {r['db']}",
            "scheduler idle tick, empty store",
            f"{r['idle_tick_empty_ms']['median']:.1f} ms",
            f"p95 {r['idle_tick_empty_ms']['p95']:.1f} ms",
        ),
        (
            f"T {r['db']}",
            f"scheduler idle tick, {r['stored_task_instances']:,} task instances stored",
            f"{r['idle_tick_stored_ms']['median']:.1f} ms",
            f"p95 {r['idle_tick_stored_ms']['p95']:.1f} ms",
        ),
    ]
    lines = ["| workload | what | median | rate / p95 |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines.append(f"\nruns: {r['runs']} counted per workload after one warm-up; peak RSS {r['peak_rss_mb']:.0f} MB")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--json", help="write the result here (default: stdout)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    WORK.mkdir(exist_ok=True)
    try:
        result: dict[str, Any] = measure(args.db, args.items, args.runs)
        print(table(result), file=sys.stderr)
    except Unreachable as exc:
        result = {"skipped": str(exc)}
    text = json.dumps(result)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
