"""The fork server: a warm interpreter that forks one child process per task try.

It runs as ``python -c "from headwater_process.server import main; main()" FD``,
started by :class:`headwater_process.executor.ProcessExecutor`, and talks to the
executor over the Unix socket FD in newline-delimited JSON:

executor -> server
    ``{"op": "init", "sys_path": [...], "preload": [...]}`` (first, once)
    ``{"op": "run", "id": N, "submission": "...", "heartbeat": S, "memory_limit": B}`` with
    the write end of the try's event pipe attached (SCM_RIGHTS)
    ``{"op": "kill", "id": N, "signal": SIG}``
    ``{"op": "stop"}``
server -> executor
    ``{"op": "ready", "pid": P}`` or ``{"op": "error", "module": M, "error": E}``
    ``{"op": "started", "id": N, "pid": P}`` and ``{"op": "exited", "id": N, "code": C}``
    (``C < 0``: killed by signal ``-C``)

The server is single-threaded, so forking is safe. Each child makes itself the
leader of a new session (``os.setsid``), so a kill reaches its whole process
tree; when a child exits, the server kills what is left of its process group
before reaping it (the unreaped child pins the group id, so the kill cannot hit
an unrelated process). A stop, SIGTERM, SIGHUP or the executor's end (the socket
closes) kills every child's group, then the server exits: nothing outlives it.
Not an API: this module's only contract is with the executor.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque
from types import FrameType
from typing import Any

#: Imported before the first fork, whatever the ``preload`` option says: the worker and its API.
WARM_MODULES = ("headwater", "headwater.plugin")
#: A pipeline the server runs once before the first fork, so that whatever the worker and a
#: pipeline file import lazily (the loader, the model, time zones, result encoding) is loaded
#: in every child already.
WARMUP_PIPELINE = """
from headwater import Pipeline, task


@task
def warm(ctx):
    return {"ok": True}


with Pipeline("headwater_process_warmup"):
    warm()
"""

_RECV_SIZE = 1 << 16


def main() -> None:
    """Entry point of the server process (argv[1]: the socket's file descriptor)."""
    sock = socket.socket(fileno=int(sys.argv[1]))
    Server(sock).serve()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)  # every child is gone; skip the interpreter's teardown


class Server:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.children: dict[int, int] = {}  # pid -> try id
        self.buffer = bytearray()
        self.fds: deque[int] = deque()  # event pipes received, in message order
        self.stopping = False
        self.subreaper = _become_subreaper()
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()

    # -- setup -------------------------------------------------------------------------
    def serve(self) -> None:
        # Ctrl-C reaches the executor's whole process group: the executor decides what stops.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        self.selector.register(self.sock, selectors.EVENT_READ, "control")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        try:
            self._loop()
        finally:
            self._kill_all()
            with contextlib.suppress(OSError):
                self.sock.close()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGHUP):
            self.stopping = True

    def _init(self, message: dict[str, Any]) -> None:
        sys.path[:] = [p for p in message["sys_path"] if isinstance(p, str)]
        for name in WARM_MODULES:
            importlib.import_module(name)
        _warm_up()
        for name in message["preload"]:
            try:
                importlib.import_module(name)
            except BaseException as exc:
                self._send({"op": "error", "module": name, "error": f"{type(exc).__name__}: {exc}"})
                self.stopping = True
                return
        gc.collect()
        gc.freeze()  # what is loaded now stays shared with the children (the collector would copy it)
        self._send({"op": "ready", "pid": os.getpid()})

    # -- the loop ----------------------------------------------------------------------
    def _loop(self) -> None:
        while not self.stopping:
            for key, _ in self.selector.select():
                if key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_r, 4096)
                else:
                    self._read_control()
            self._reap()

    def _read_control(self) -> None:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, _RECV_SIZE, 4)
        except (ConnectionError, OSError):
            data, fds = b"", []
        self.fds.extend(fds)
        if not data:  # the executor is gone: stop everything
            self.stopping = True
            return
        self.buffer += data
        while not self.stopping:
            end = self.buffer.find(b"\n")
            if end < 0:
                return
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 1]
            self._handle(json.loads(line))

    def _handle(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "run":
            self._fork(message, self.fds.popleft())
        elif op == "kill":
            pid = next((p for p, rid in self.children.items() if rid == message["id"]), None)
            if pid is not None:
                _kill_tree(pid, int(message["signal"]))
        elif op == "init":
            self._init(message)
        elif op == "stop":
            self.stopping = True

    def _send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(json.dumps(message).encode() + b"\n")

    # -- children ----------------------------------------------------------------------
    def _fork(self, message: dict[str, Any], event_fd: int) -> None:
        rid = int(message["id"])
        for stream in (sys.stdout, sys.stderr):  # nothing buffered here may end up in a task's log
            with contextlib.suppress(Exception):
                stream.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self._become_child()
                code = run_child(message, event_fd)
            except BaseException:
                with contextlib.suppress(BaseException):
                    traceback.print_exc()
            finally:
                with contextlib.suppress(BaseException):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        os.close(event_fd)
        self.children[pid] = rid
        self._send({"op": "started", "id": rid, "pid": pid})

    def _become_child(self) -> None:
        """Drop the server's state in a freshly forked child: its own session, default signals."""
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.selector.close()
        self.sock.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        for fd in self.fds:
            os.close(fd)

    def _reap(self) -> None:
        reaped = False
        while (status := _exited_child()) is not None:
            reaped = True
            pid, code = status
            rid = self.children.pop(pid, None)
            if rid is not None:
                self._send({"op": "exited", "id": rid, "code": code})
        if reaped and self.subreaper:
            self._kill_orphans()

    def _kill_orphans(self) -> None:
        """Kill the processes tries left behind in other sessions, reparented to this subreaper."""
        for pid in _child_pids() - set(self.children):
            _kill_tree(pid, signal.SIGKILL)

    def _kill_all(self) -> None:
        for pid in list(self.children):
            _kill_tree(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10  # SIGKILL is prompt, unless a process is stuck in the kernel
        while time.monotonic() < deadline:
            self._reap()
            if self.subreaper:
                self._kill_orphans()
            if not self.children and not (self.subreaper and _child_pids()):
                return
            time.sleep(0.005)


def _warm_up() -> None:
    """Run a no-op try here once (an optimisation only: a failure is ignored)."""
    import tempfile

    from headwater.plugin import TaskKey, TaskSubmission, execute_submission

    path = list(sys.path)
    try:
        with tempfile.TemporaryDirectory(prefix="headwater-process-") as tmp:
            file = os.path.join(tmp, "warmup.py")
            with open(file, "w", encoding="utf-8") as f:
                f.write(WARMUP_PIPELINE)
            submission = TaskSubmission(
                key=TaskKey("warmup", "warm", 1),
                pipeline_id="headwater_process_warmup",
                pipeline_file=file,
                logical_date="2026-01-01T00:00:00+00:00",
                interval_start="2026-01-01T00:00:00+00:00",
                interval_end="2026-01-02T00:00:00+00:00",
            )
            execute_submission(submission, lambda _event: None)
    except Exception:  # noqa: S110 - only an optimisation
        pass
    finally:
        sys.path[:] = path  # the loader adds the pipeline's folder


def _exited_child() -> tuple[int, int] | None:
    """Reap one exited child after killing the rest of its process group: ``(pid, code)``, or None."""
    try:
        if hasattr(os, "waitid") and hasattr(os, "WNOWAIT"):
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is None:
                return None
            pid = info.si_pid
            _kill_group(pid, signal.SIGKILL)  # the zombie pins the group id: no unrelated process is hit
            os.waitpid(pid, 0)
            code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
            return pid, code
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return None
        _kill_group(pid, signal.SIGKILL)
        return pid, os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        return None


def _become_subreaper() -> bool:
    """On Linux, adopt the orphans of this server's descendants (PR_SET_CHILD_SUBREAPER), so that
    processes a try starts in a new session (as BashOperator does) can be killed when it ends."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(36, 1, 0, 0, 0) == 0)  # 36: PR_SET_CHILD_SUBREAPER
    except Exception:
        return False


def _child_pids() -> set[int]:
    """This process's direct children (Linux /proc)."""
    me = os.getpid()
    try:
        with open(f"/proc/self/task/{me}/children", encoding="ascii") as f:
            return {int(pid) for pid in f.read().split()}
    except OSError:
        pass
    children: set[int] = set()
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with (
                    contextlib.suppress(OSError, ValueError, IndexError),
                    open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f,
                ):
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == me:
                        children.add(int(entry))
    return children


def _kill_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _kill_tree(pid: int, sig: int) -> None:
    if not _kill_group(pid, sig):  # not a group leader yet (it has not reached setsid): the child alone
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


# -- inside the child ------------------------------------------------------------------------


class _EventPipe:
    """Writes events as JSON lines to the executor; nothing after the final one."""

    FINAL = frozenset({"succeeded", "failed", "skipped", "rescheduled"})

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.started = threading.Event()  # STARTED is sent: heartbeats may follow
        self.done = False

    def emit(self, event: Any) -> None:
        data = memoryview((event.to_json() + "\n").encode())
        with self.lock:
            if self.done:
                return
            self.done = event.kind.value in self.FINAL
            while data:
                data = data[os.write(self.fd, data) :]
        self.started.set()


def _redirect_output(log_path: str | None) -> None:
    """Point fds 0 at /dev/null and 1, 2 at the try's log (appending, like the worker's logger)."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if log_path:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            sys.stderr.write(f"headwater-process: cannot open the task log {log_path}: {exc}\n")
        else:
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]


def run_child(message: dict[str, Any], event_fd: int) -> int:
    """Run one try in this (forked) process; the exit code."""
    from headwater import TaskCancelled
    from headwater.plugin import EventKind, TaskEvent, TaskSubmission, execute_submission

    submission = TaskSubmission.from_json(message["submission"])
    events = _EventPipe(event_fd)
    cancelled = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        # Once: the grace is for clean-up. (A no-op handler, not SIG_IGN, which programs started now would inherit.)
        signal.signal(signal.SIGTERM, lambda _s, _f: None)
        cancelled.set()
        raise TaskCancelled(f"task {submission.key.task_id} was stopped (SIGTERM)")

    signal.signal(signal.SIGTERM, stop)
    _redirect_output(submission.log_path)

    interval = message.get("heartbeat")
    finished = threading.Event()
    if interval:

        def beat() -> None:
            events.started.wait()
            while not finished.wait(interval):
                events.emit(TaskEvent(key=submission.key, kind=EventKind.HEARTBEAT, at=time.time()))

        threading.Thread(target=beat, name="headwater-heartbeat", daemon=True).start()

    limit = message.get("memory_limit")
    if limit:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    try:
        execute_submission(submission, events.emit, cancelled=cancelled)
    finally:
        finished.set()
    return 0
