"""What the process executor promises beyond the common contract: kills, output, isolation, limits, liveness."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from headwater import ConfigError
from headwater.plugin import EventKind
from headwater.testing.conformance import ExecutorHarness, pipeline_file
from headwater_process.executor import ProcessExecutor
from headwater_process.options import parse_size

TIMEOUT = 30.0  # a guard against hangs, never a timing assertion

PIPELINE = """
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from headwater import Pipeline, task

STATE = []


def wait_for_gate(ctx):
    gate = Path(ctx.params["gate"])
    while not gate.exists():
        time.sleep(0.01)


@task
def spawner(ctx):
    # A child and a grandchild that would sleep for ~17 minutes, then the try blocks.
    if ctx.params.get("ignore_sigterm"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL stops it, and its children
    seconds = ctx.params["seconds"]
    subprocess.Popen(["sleep", seconds])
    subprocess.Popen(["bash", "-c", f"sleep {seconds} & sleep {seconds}"])
    if ctx.params.get("new_session"):
        subprocess.Popen(["sleep", seconds], start_new_session=True)
    Path(ctx.params["spawned"]).write_text("spawned")
    if not ctx.params.get("return_at_once"):
        time.sleep(600)
    return "left them running"


@task
def noisy(ctx):
    print("from print")
    subprocess.run(["echo", "from a subprocess"], check=True)
    os.write(2, b"from fd 2\\n")
    print("from sys.stderr", file=sys.stderr)
    ctx.log.info("from ctx.log")
    return "noisy done"


@task
def mutate(ctx):
    shared = importlib.import_module(ctx.params["module"])
    STATE.append(1)
    shared.COUNTER.append(1)
    return {"state": len(STATE), "counter": len(shared.COUNTER), "imported_by_server": shared.PID != os.getpid()}


@task
def allocate(ctx):
    return len(bytearray(ctx.params["bytes"]))


@task
def gated(ctx):
    # Holds its slot until the test creates the gate file; returns how many tries it saw running.
    running = Path(ctx.params["running"])
    running.mkdir(exist_ok=True)
    me = running / str(os.getpid())
    me.touch()
    seen = len(list(running.iterdir()))
    wait_for_gate(ctx)
    me.unlink()
    return seen


@task
def exits(ctx):
    os._exit(ctx.params["code"])


with Pipeline("conf") as p:
    spawner()
    noisy()
    mutate()
    allocate()
    gated()
    exits()
"""


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., ExecutorHarness]]:
    """``start(executor)``: the executor started on the test pipeline, shut down afterwards."""
    started: list[ExecutorHarness] = []

    def _start(executor: ProcessExecutor) -> ExecutorHarness:
        harness = ExecutorHarness(executor, pipeline_file(tmp_path, PIPELINE), workdir=tmp_path, timeout=TIMEOUT)
        executor.start(harness.emit)
        started.append(harness)
        return harness

    yield _start
    (tmp_path / "gate").touch()
    for harness in started:
        harness.executor.shutdown(wait=False)


@pytest.fixture
def marker() -> str:
    """A `sleep` duration unique to the test, to find its processes by command line."""
    return f"1000.{random.randrange(10**8):08d}"


def _running(seconds: str) -> bool:
    pattern = rf"^(bash -c )?sleep {seconds.replace('.', '[.]')}"
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, check=False).returncode == 0


def _eventually(check: Callable[[], bool], within: float = TIMEOUT) -> bool:
    """Poll ``check`` until it holds (True) or ``within`` seconds pass (False)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- stopping a try kills its whole process tree ---------------------------------------------


def test_a_timeout_kills_the_whole_tree_even_when_it_ignores_sigterm(
    start: Callable[..., ExecutorHarness], tmp_path: Path, marker: str
) -> None:
    harness = start(ProcessExecutor(parallelism=2, options={"kill_grace": 0.2}))
    spawned = tmp_path / "spawned"
    submission = harness.submission(
        "spawner", params={"seconds": marker, "spawned": str(spawned), "ignore_sigterm": True}, timeout=1.5
    )
    harness.executor.submit(submission)
    assert _eventually(spawned.exists), "the try never started its processes"
    assert _running(marker)
    event = harness.final(submission.key)
    assert event.kind == EventKind.FAILED, event
    assert event.timed_out
    assert event.error == "timed out after 1.5s (process tree killed)"
    assert _eventually(lambda: not _running(marker)), "a process of the timed-out try survived"
    assert _eventually(lambda: harness.executor.pid_of(submission.key) is None)  # type: ignore[attr-defined]


def test_cancel_kills_the_whole_tree_and_reports_nothing_more(
    start: Callable[..., ExecutorHarness], tmp_path: Path, marker: str
) -> None:
    executor = ProcessExecutor(parallelism=2, options={"kill_grace": 5})
    harness = start(executor)
    spawned = tmp_path / "spawned"
    key = harness.submit("spawner", params={"seconds": marker, "spawned": str(spawned), "new_session": True})
    assert _eventually(spawned.exists), "the try never started its processes"
    pid = executor.pid_of(key)
    assert pid is not None
    executor.cancel(key)
    # SIGTERM stops the try's own group at once (no waiting for the grace); the new-session child
    # is killed when the try's process exits.
    assert _eventually(lambda: not _running(marker)), "a process of the cancelled try survived"
    assert _eventually(lambda: executor.pid_of(key) is None)
    harness.drain()
    assert [k for k in harness.kinds(key) if k != EventKind.HEARTBEAT] == [EventKind.STARTED]
    assert executor.check_health().healthy


def test_what_a_finished_try_leaves_running_is_killed(
    start: Callable[..., ExecutorHarness], tmp_path: Path, marker: str
) -> None:
    harness = start(ProcessExecutor(parallelism=1))
    params: dict[str, Any] = {
        "seconds": marker,
        "spawned": str(tmp_path / "spawned"),
        "return_at_once": True,
        "new_session": True,
    }
    key = harness.submit("spawner", params=params)
    assert harness.final(key).kind == EventKind.SUCCEEDED
    assert (tmp_path / "spawned").exists()
    assert _eventually(lambda: not _running(marker)), "a process the try started outlived it"


def test_no_process_is_left_after_shutdown(start: Callable[..., ExecutorHarness], tmp_path: Path, marker: str) -> None:
    executor = ProcessExecutor(parallelism=3, options={"kill_grace": 0.2})
    harness = start(executor)
    spawned = []
    for n in range(3):
        path = tmp_path / f"spawned{n}"
        harness.submit(
            "spawner", run_id=f"r{n}", params={"seconds": marker, "spawned": str(path), "ignore_sigterm": True}
        )
        spawned.append(path)
    assert _eventually(lambda: all(p.exists() for p in spawned))
    server = executor.server_pid
    assert server is not None
    executor.shutdown(wait=False)
    assert _eventually(lambda: not _running(marker)), "a try's process survived shutdown"
    assert not Path(f"/proc/{server}").exists(), "the fork server survived shutdown"
    assert not executor.check_health().healthy


def test_shutdown_with_wait_lets_running_tries_finish(start: Callable[..., ExecutorHarness], tmp_path: Path) -> None:
    executor = ProcessExecutor(parallelism=2)
    harness = start(executor)
    params = {"gate": str(tmp_path / "gate"), "running": str(tmp_path / "running")}
    keys = [harness.submit("gated", run_id=f"r{n}", params=params) for n in range(3)]  # one waits in the queue
    for key in keys[:2]:
        harness.wait_for(key, frozenset({EventKind.STARTED}))
    done = threading.Event()

    def stop() -> None:
        executor.shutdown(wait=True)
        done.set()

    threading.Thread(target=stop, daemon=True).start()
    assert not done.wait(0.3), "shutdown(wait=True) returned while tries were running"
    (tmp_path / "gate").touch()
    assert [harness.final(key).kind for key in keys] == [EventKind.SUCCEEDED] * 3
    assert done.wait(TIMEOUT)


# -- output, isolation, limits -----------------------------------------------------------------


def test_stdout_and_stderr_are_captured_in_the_try_log(start: Callable[..., ExecutorHarness]) -> None:
    harness = start(ProcessExecutor(parallelism=1))
    submission = harness.submission("noisy")
    harness.executor.submit(submission)
    assert harness.final(submission.key).kind == EventKind.SUCCEEDED
    assert submission.log_path is not None
    lines = Path(submission.log_path).read_text().splitlines()
    for text in ("from print", "from a subprocess", "from fd 2", "from sys.stderr"):
        assert text in lines, lines
    assert any(line.endswith("INFO from ctx.log") for line in lines), lines


def test_without_a_log_path_output_goes_where_the_executors_goes(
    start: Callable[..., ExecutorHarness], capfd: pytest.CaptureFixture[str]
) -> None:
    harness = start(ProcessExecutor(parallelism=1))  # the server inherits pytest's captured fds
    submission = replace(harness.submission("noisy"), log_path=None)
    harness.executor.submit(submission)
    assert harness.final(submission.key).kind == EventKind.SUCCEEDED
    out, err = capfd.readouterr()
    assert "from print" in out and "from a subprocess" in out
    assert "from fd 2" in err


def test_each_try_gets_a_fresh_copy_of_the_preloaded_server(
    start: Callable[..., ExecutorHarness], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"hw_preloaded_{random.randrange(10**8)}"
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / f"{module}.py").write_text("import os\nPID = os.getpid()\nCOUNTER = []\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))  # the server gets this process's sys.path
    harness = start(ProcessExecutor(parallelism=1, options={"preload": [module]}))
    for n in range(3):
        event = harness.final(harness.submit("mutate", run_id=f"r{n}", params={"module": module}))
        assert event.kind == EventKind.SUCCEEDED, event
        assert event.result is not None
        assert event.result.value == '{"state":1,"counter":1,"imported_by_server":true}', event.result


def test_a_try_over_the_memory_limit_fails_with_memory_error(start: Callable[..., ExecutorHarness]) -> None:
    harness = start(ProcessExecutor(parallelism=1, options={"memory_limit": "400MB"}))
    big = harness.final(harness.submit("allocate", run_id="big", params={"bytes": 800 * 10**6}))
    assert big.kind == EventKind.FAILED, big
    assert big.error_type == "MemoryError"
    small = harness.final(harness.submit("allocate", run_id="small", params={"bytes": 10**6}))
    assert small.kind == EventKind.SUCCEEDED, small


def test_never_more_processes_at_once_than_parallelism(start: Callable[..., ExecutorHarness], tmp_path: Path) -> None:
    executor = ProcessExecutor(parallelism=2)
    harness = start(executor)
    running = tmp_path / "running"
    params = {"gate": str(tmp_path / "gate"), "running": str(running)}
    keys = [harness.submit("gated", run_id=f"r{n}", params=params) for n in range(6)]
    assert _eventually(lambda: running.exists() and len(list(running.iterdir())) >= 2)
    harness.drain()
    assert sum(harness.kinds(key).count(EventKind.STARTED) for key in keys) == 2
    (tmp_path / "gate").touch()
    events = [harness.final(key) for key in keys]
    assert [e.kind for e in events] == [EventKind.SUCCEEDED] * 6
    assert max(int(e.result.value) for e in events if e.result is not None) <= 2


# -- liveness: heartbeats, dead workers, a dead server ------------------------------------------


def test_heartbeats_arrive_while_the_try_runs(start: Callable[..., ExecutorHarness], tmp_path: Path) -> None:
    harness = start(ProcessExecutor(parallelism=1, options={"heartbeat_interval": 0.05}))
    params = {"gate": str(tmp_path / "gate"), "running": str(tmp_path / "running")}
    key = harness.submit("gated", params=params)
    harness.wait_for(key, frozenset({EventKind.HEARTBEAT}))
    (tmp_path / "gate").touch()
    assert harness.final(key).kind == EventKind.SUCCEEDED
    harness.drain()
    kinds = harness.kinds(key)
    assert kinds[0] == EventKind.STARTED and kinds[-1] == EventKind.SUCCEEDED, kinds
    assert set(kinds[1:-1]) == {EventKind.HEARTBEAT}, kinds


def test_the_submission_heartbeat_interval_wins(start: Callable[..., ExecutorHarness], tmp_path: Path) -> None:
    harness = start(ProcessExecutor(parallelism=2, options={"heartbeat_interval": 0}))  # none by default
    params = {"gate": str(tmp_path / "gate"), "running": str(tmp_path / "running")}
    quiet = harness.submission("gated", run_id="quiet", params=params)
    beating = replace(harness.submission("gated", run_id="beating", params=params), heartbeat_interval=0.05)
    harness.executor.submit(quiet)
    harness.executor.submit(beating)
    harness.wait_for(quiet.key, frozenset({EventKind.STARTED}))
    harness.wait_for(beating.key, frozenset({EventKind.HEARTBEAT}))
    (tmp_path / "gate").touch()
    harness.final(quiet.key)
    harness.final(beating.key)
    harness.drain()
    assert harness.kinds(quiet.key) == [EventKind.STARTED, EventKind.SUCCEEDED]


def test_a_worker_killed_with_sigkill_fails_the_try_retryably(
    start: Callable[..., ExecutorHarness], tmp_path: Path
) -> None:
    executor = ProcessExecutor(parallelism=1)
    harness = start(executor)
    key = harness.submit("gated", params={"gate": str(tmp_path / "gate"), "running": str(tmp_path / "running")})
    harness.wait_for(key, frozenset({EventKind.STARTED}))
    assert _eventually(lambda: executor.pid_of(key) is not None)
    os.kill(executor.pid_of(key) or 0, signal.SIGKILL)
    event = harness.final(key)
    assert event.kind == EventKind.FAILED, event
    assert event.error is not None and event.error.startswith("worker process died: killed by signal 9 (SIGKILL)")
    assert event.retryable
    assert not event.timed_out
    again = harness.submit("noisy", run_id="after")
    assert harness.final(again).kind == EventKind.SUCCEEDED
    assert executor.check_health().healthy


def test_a_worker_that_exits_without_an_outcome_fails_the_try(start: Callable[..., ExecutorHarness]) -> None:
    harness = start(ProcessExecutor(parallelism=1))
    event = harness.final(harness.submit("exits", params={"code": 3}))
    assert event.kind == EventKind.FAILED, event
    assert event.error is not None and event.error.startswith("worker process died: exited with code 3")


def test_a_dead_fork_server_makes_the_executor_unhealthy_and_leaves_nothing_behind(
    start: Callable[..., ExecutorHarness], tmp_path: Path, marker: str
) -> None:
    executor = ProcessExecutor(parallelism=2)
    harness = start(executor)
    spawned = tmp_path / "spawned"
    key = harness.submit("spawner", params={"seconds": marker, "spawned": str(spawned)})
    assert _eventually(spawned.exists)
    os.kill(executor.server_pid or 0, signal.SIGKILL)
    event = harness.final(key)
    assert event.kind == EventKind.FAILED and event.retryable, event
    assert event.error == "worker process died: the fork server exited unexpectedly"
    assert _eventually(lambda: not _running(marker)), "the try's processes outlived the fork server"
    health = executor.check_health()
    assert not health.healthy and "fork server" in health.detail, health
    late = harness.final(harness.submit("noisy", run_id="late"))
    assert late.kind == EventKind.FAILED and late.error is not None and "fork server" in late.error


def test_an_executor_can_be_started_again_after_shutdown(start: Callable[..., ExecutorHarness]) -> None:
    executor = ProcessExecutor(parallelism=2)
    for _ in range(2):
        harness = start(executor)
        keys = [harness.submit("noisy", run_id=f"r{n}") for n in range(3)]
        assert [harness.final(key).kind for key in keys] == [EventKind.SUCCEEDED] * 3
        executor.shutdown(wait=True)


# -- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"memory_limit": "lots"}, "'memory_limit': expected a number of bytes or a size"),
        ({"memory_limit": 0}, "'memory_limit'"),
        ({"kill_grace": -1}, "'kill_grace': expected a number of seconds >= 0"),
        ({"heartbeat_interval": "often"}, "'heartbeat_interval'"),
        ({"preload": ["not a module"]}, "'preload': expected a list of module names"),
        ({"memroy_limit": "1GB"}, "unknown option(s) 'memroy_limit'; known options: heartbeat_interval"),
    ],
)
def test_bad_options_are_refused_naming_the_option(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ProcessExecutor(options=options)
    assert message in str(info.value)


def test_a_preload_module_that_cannot_be_imported_fails_start() -> None:
    executor = ProcessExecutor(options={"preload": "json, no_such_module_hw"})
    with pytest.raises(ConfigError, match="'preload': cannot import 'no_such_module_hw': ModuleNotFoundError"):
        executor.start(lambda event: None)
    assert not executor.check_health().healthy
    executor.shutdown()


@pytest.mark.parametrize(
    ("text", "size"),
    [(123, 123), ("512MB", 512 * 10**6), ("2GiB", 2 * 1024**3), ("1.5 kb", 1500), ("64mib", 64 * 1024**2)],
)
def test_memory_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size
