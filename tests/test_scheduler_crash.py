"""A real ``headwater scheduler`` killed with kill -9 at random points, or stopped with SIGTERM, loses nothing.

The project has a catch-up pipeline (3 hourly intervals, a diamond of 4 tasks each, two of them in a
pool). Every task appends ``<run>/<task>`` to ``markers.txt`` when it starts and takes a moment, so kills
land before, during and after tries. After each kill a new scheduler starts; at the end every run has
succeeded, no try that succeeded ever ran again, and no pool slot is left held.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("headwater_local", reason="needs the local executor (headwater-local), the default")

PIPELINE = """
import time
from pathlib import Path

from headwater import Pipeline, task

ROOT = Path(__file__).resolve().parent.parent


def mark(ctx):
    with (ROOT / "markers.txt").open("a") as f:
        f.write(f"{ctx.run_id}/{ctx.task_id}\\n")
    ctx.wait(0.15)


@task
def extract(ctx):
    mark(ctx)


@task(pool="db")
def left(ctx):
    mark(ctx)


@task(pool="db")
def right(ctx):
    mark(ctx)


@task
def publish(ctx):
    mark(ctx)


with Pipeline("diamond", schedule="@hourly", start_date="2026-01-01", end_date="2026-01-01T02:00",
              catchup=True, max_active_runs=2):
    e = extract()
    e >> [left(), right()] >> publish()
"""

CONFIG = """
pools = { db = 1 }

[scheduler]
tick = "0.2s"
lease_ttl = "20s"
shutdown_grace = "30s"
"""


class SchedulerProject:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "pipelines").mkdir(parents=True)
        (root / "pipelines" / "diamond.py").write_text(textwrap.dedent(PIPELINE), encoding="utf-8")
        (root / "headwater.toml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        with (self.root / "output.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "headwater.cli.main", "scheduler", *args],
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        self.procs.append(proc)
        return proc

    def output(self) -> str:
        path = self.root / "output.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def markers(self) -> Counter[str]:
        path = self.root / "markers.txt"
        return Counter(path.read_text(encoding="utf-8").split()) if path.exists() else Counter()

    def query(self, sql: str) -> list[tuple[object, ...]]:
        db = sqlite3.connect(self.root / ".headwater" / "headwater.db", timeout=30)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def finish(self) -> None:
        """Run a scheduler until nothing is left to do."""
        proc = self.start("--exit-when-idle")
        assert proc.wait(timeout=120) == 0, self.output()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[SchedulerProject]:
    p = SchedulerProject(tmp_path / "proj")
    yield p
    for proc in p.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _assert_nothing_lost_or_repeated(project: SchedulerProject) -> None:
    runs = project.query("SELECT run_id, state FROM hw_runs ORDER BY run_id")
    assert [state for _, state in runs] == ["success"] * 3, (runs, project.output())
    tries = project.query("SELECT run_id, task_id, try_number, state, error FROM hw_task_tries")
    per_task: dict[str, list[tuple[int, str, object]]] = {}
    for run_id, task_id, number, state, error in tries:
        per_task.setdefault(f"{run_id}/{task_id}", []).append((int(str(number)), str(state), error))
    assert len(per_task) == 12  # 3 runs x 4 tasks, none lost
    markers = project.markers()
    for key, attempts in per_task.items():
        attempts.sort()
        *earlier, last = attempts
        assert last[1] == "success", (key, attempts)
        # Every earlier try was interrupted by a kill, never a success run again.
        assert all(state == "failed" and "interrupted" in str(error) for _, state, error in earlier), (key, attempts)
        # Every execution of the task is a recorded try: nothing ran behind the store's back.
        assert markers[key] <= len(attempts), (key, markers[key], attempts)
    assert project.query("SELECT * FROM hw_pool_slots") == []  # no slot outlives its holder


def test_scheduler_killed_at_random_points_finishes_every_run_once(project: SchedulerProject) -> None:
    rng = random.Random(20261125)
    for _ in range(8):
        proc = project.start()
        time.sleep(rng.uniform(0.3, 1.2))  # a random kill point, not a synchronisation
        if proc.poll() is not None:
            pytest.fail(f"the scheduler exited by itself ({proc.returncode}):\n{project.output()}")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    project.finish()
    _assert_nothing_lost_or_repeated(project)


def test_sigterm_lets_running_tries_finish_and_the_next_scheduler_resumes(project: SchedulerProject) -> None:
    proc = project.start()
    deadline = time.monotonic() + 60
    while not project.markers():  # bounded wait until a try is running
        if time.monotonic() > deadline or proc.poll() is not None:
            pytest.fail(f"no task started:\n{project.output()}")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, project.output()
    # A clean stop hands every lease back: nothing is left owned by the stopped scheduler.
    assert project.query("SELECT run_id FROM hw_runs WHERE lease_owner IS NOT NULL") == []
    stopped = project.query("SELECT stopped_at FROM hw_schedulers")
    assert len(stopped) == 1 and stopped[0][0] is not None
    interrupted = project.query("SELECT task_id FROM hw_task_tries WHERE error LIKE '%handed back%'")
    assert interrupted == []  # the grace period was long enough: running tries finished, none was cut
    project.finish()
    _assert_nothing_lost_or_repeated(project)
