"""kill -9 a real ``headwater run`` mid-run, then resume it: what succeeded never runs again.

Each task of the chain a -> b -> c -> d appends its id to ``markers.txt`` when it starts, then
waits (``ctx.wait``, bounded) until its gate file ``open_<id>`` exists. The test opens gates,
waits until a chosen task has started, and kills the process with SIGKILL.
"""

from __future__ import annotations

import os
import random
import re
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

CHAIN = ("a", "b", "c", "d")
WAIT_LIMIT = 60.0  # seconds: a bound, never a synchronisation

PIPELINE = """
import time
from pathlib import Path

from headwater import Pipeline, task

ROOT = Path(__file__).resolve().parent.parent


def step(ctx, task_id):
    with (ROOT / "markers.txt").open("a") as f:
        f.write(task_id + "\\n")
    deadline = time.monotonic() + 60
    while not (ROOT / f"open_{task_id}").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate open_{task_id} never opened")
        ctx.wait(0.05)


@task
def a(ctx):
    step(ctx, "a")


@task
def b(ctx):
    step(ctx, "b")


@task
def c(ctx):
    step(ctx, "c")


@task
def d(ctx):
    step(ctx, "d")


with Pipeline("chain"):
    a() >> b() >> c() >> d()
"""


class ChainProject:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "pipelines").mkdir(parents=True)
        (root / "pipelines" / "chain.py").write_text(textwrap.dedent(PIPELINE), encoding="utf-8")
        (root / "headwater.toml").write_text("# defaults: local executor, SQLite in .headwater/\n", encoding="utf-8")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
        self.procs: list[subprocess.Popen[bytes]] = []

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "headwater.cli.main", *args]

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """``headwater ARGS`` in the background, output to ``output.log``."""
        with (self.root / "output.log").open("ab") as log:
            proc = subprocess.Popen(
                self.command(*args), cwd=self.root, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        self.procs.append(proc)
        return proc

    def headwater(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), cwd=self.root, capture_output=True, text=True, env=self.env, timeout=120, check=False
        )

    def open_gate(self, *task_ids: str) -> None:
        for task_id in task_ids:
            (self.root / f"open_{task_id}").touch()

    def markers(self) -> Counter[str]:
        path = self.root / "markers.txt"
        return Counter(path.read_text(encoding="utf-8").split()) if path.exists() else Counter()

    def wait_until_started(self, proc: subprocess.Popen[bytes], task_id: str, times: int) -> None:
        """Poll (bounded) until ``task_id`` has started ``times`` times in all."""
        deadline = time.monotonic() + WAIT_LIMIT
        while self.markers()[task_id] < times:
            if proc.poll() is not None:
                pytest.fail(f"headwater exited ({proc.returncode}) before {task_id} started:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{task_id} did not start within {WAIT_LIMIT}s:\n{self.output()}")
            time.sleep(0.02)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL

    def output(self) -> str:
        path = self.root / "output.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        db = sqlite3.connect(self.root / ".headwater" / "headwater.db")
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def run_id(self) -> str:
        [(run_id,)] = self.query("SELECT run_id FROM hw_runs WHERE pipeline_id = 'chain'")
        return str(run_id)

    def succeeded(self, run_id: str) -> set[str]:
        rows = self.query("SELECT task_id FROM hw_task_instances WHERE run_id = ? AND state = 'success'", run_id)
        return {str(r[0]) for r in rows}

    def tries(self, run_id: str) -> dict[str, list[tuple[str, str | None]]]:
        """Every task's tries in order: (state, error)."""
        rows = self.query(
            "SELECT task_id, state, error FROM hw_task_tries WHERE run_id = ? ORDER BY task_id, try_number", run_id
        )
        out: dict[str, list[tuple[str, str | None]]] = {}
        for task_id, state, error in rows:
            out.setdefault(str(task_id), []).append((str(state), None if error is None else str(error)))
        return out


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[ChainProject]:
    project = ChainProject(tmp_path / "proj")
    yield project
    for proc in project.procs:  # a failed assertion must not leave a run behind
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _assert_tries_end_in_one_success(tries: dict[str, list[tuple[str, str | None]]]) -> None:
    """Per task: earlier tries were interrupted; only the last succeeded."""
    assert set(tries) == set(CHAIN), tries
    for task_id, attempts in tries.items():
        *interrupted, last = attempts
        assert last[0] == "success", (task_id, attempts)
        for state, error in interrupted:
            assert state == "failed" and error is not None and "interrupted" in error, (task_id, attempts)


def test_kill_9_mid_run_then_resume_skips_what_succeeded(chain: ChainProject) -> None:
    chain.open_gate("a", "b", "d")  # c waits for its release file
    proc = chain.start("run", "chain")
    chain.wait_until_started(proc, "c", times=1)
    chain.kill(proc)
    run_id = chain.run_id()
    assert chain.succeeded(run_id) == {"a", "b"}

    chain.open_gate("c")
    resumed = chain.headwater("run", run_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"run {run_id} succeeded" in resumed.stdout
    assert chain.markers() == Counter({"a": 1, "b": 1, "c": 2, "d": 1})
    _assert_tries_end_in_one_success(chain.tries(run_id))

    history = chain.headwater("history", run_id)
    assert history.returncode == 0, history.stderr
    c_line = re.search(r"^c\s+success\s+2\s.*$", history.stdout, re.MULTILINE)
    assert c_line, history.stdout
    assert re.search(r"#1 failed .*interrupted", c_line.group(0)), c_line.group(0)
    assert "#2 success" in c_line.group(0)


@pytest.mark.parametrize("seed", [20260302, 20260303])  # kill points a, a, c and b, c, d
def test_repeated_kills_at_random_points_never_rerun_a_success(chain: ChainProject, seed: int) -> None:
    rng = random.Random(seed)
    killed: Counter[str] = Counter()
    run_id: str | None = None
    for _ in range(3):
        done = chain.succeeded(run_id) if run_id else set()
        kill_at = rng.choice([t for t in CHAIN if t not in done])
        chain.open_gate(*CHAIN[: CHAIN.index(kill_at)])
        proc = chain.start("run", run_id or "chain")
        chain.wait_until_started(proc, kill_at, times=killed[kill_at] + 1)
        chain.kill(proc)
        killed[kill_at] += 1
        run_id = run_id or chain.run_id()
        assert chain.succeeded(run_id) == set(CHAIN[: CHAIN.index(kill_at)]), (kill_at, chain.output())

    assert run_id is not None
    chain.open_gate(*CHAIN)
    final = chain.headwater("run", run_id)
    assert final.returncode == 0, final.stdout + final.stderr
    assert chain.markers() == Counter({t: 1 + killed[t] for t in CHAIN}), killed
    _assert_tries_end_in_one_success(chain.tries(run_id))
