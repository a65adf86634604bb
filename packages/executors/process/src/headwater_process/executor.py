"""ProcessExecutor: each try runs in its own OS process, forked from a warm fork server.

``start`` launches the fork server (:mod:`headwater_process.server`) once: a fresh
interpreter that imports Headwater, the worker and the ``preload`` modules, then
forks one child per try, so no try pays an interpreter start or those imports,
and no try sees another's memory. The child leads its own session, sends its
events (STARTED, HEARTBEATs, the outcome) as JSON lines over a pipe, and writes
its stdout and stderr to the try's log.

One daemon thread here (the hub) owns all state: it launches queued tries when
capacity frees up, relays events to ``emit``, enforces timeouts, escalates kills
and reports children that die without an outcome. Other threads only post
commands to it, so ``submit`` and ``cancel`` never block.

Stopping a try (its timeout, ``cancel``, ``shutdown(wait=False)``) sends SIGTERM to
its whole process group, then SIGKILL after ``kill_grace`` seconds; when the
child exits, whatever is left of its group is killed too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from headwater import ConfigError
from headwater.plugin import EventKind, EventSink, Executor, ExecutorHealth, TaskEvent, TaskKey, TaskSubmission
from headwater_process.options import ProcessOptions, parse_options

log = logging.getLogger("headwater.process")

FINAL_KINDS = frozenset({EventKind.SUCCEEDED, EventKind.FAILED, EventKind.SKIPPED, EventKind.RESCHEDULED})
#: The longest ``start`` waits for the fork server to import its modules.
START_TIMEOUT = 120.0
_SERVER_CODE = "from headwater_process.server import main; main()"
_READ_SIZE = 1 << 16


def describe_exit(code: int) -> str:
    """``"killed by signal 9 (SIGKILL)"`` or ``"exited with code 3"`` for a returncode-style ``code``."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-code} ({name})"
    return f"exited with code {code}"


class _Try:
    """One submitted try, from the queue to the exit of its process."""

    __slots__ = ("buffer", "deadline", "done", "fd", "key", "kill_at", "pid", "rid", "stopping", "submission")

    def __init__(self, rid: int, submission: TaskSubmission) -> None:
        self.rid = rid
        self.submission = submission
        self.key = submission.key
        self.pid: int | None = None
        self.fd: int | None = None  # the read end of its event pipe, while open
        self.buffer = bytearray()
        self.deadline: float | None = None  # monotonic; set when it starts, if it has a timeout
        self.done = False  # its outcome is reported (or it was cancelled): emit nothing more
        self.stopping = False  # SIGTERM sent
        self.kill_at: float | None = None  # monotonic; when SIGKILL follows the SIGTERM


class ProcessExecutor(Executor):
    """Runs each try in its own process forked from a warm server; at most ``parallelism`` at once.

    Options (``options={...}``): ``heartbeat_interval`` (seconds, default 5; 0 or None: no
    heartbeats), ``kill_grace`` (seconds between SIGTERM and SIGKILL, default 2),
    ``memory_limit`` (bytes or ``"512MB"``: the address-space limit of each try's process),
    ``preload`` (module names the server imports once, so tries start with them loaded).
    """

    name = "process"
    heartbeats = True

    def __init__(self, *, parallelism: int | None = None, options: Mapping[str, object] | None = None) -> None:
        if parallelism is not None and (isinstance(parallelism, bool) or parallelism < 1):
            raise ConfigError(f"process executor: parallelism must be at least 1, got {parallelism!r}")
        super().__init__(parallelism=parallelism or os.cpu_count() or 1, options=options)
        self.settings: ProcessOptions = parse_options(self.options)
        self._lock = threading.Lock()
        self._commands: deque[Callable[[], None]] = deque()
        self._pids: dict[TaskKey, int] = {}
        self._server: subprocess.Popen[bytes] | None = None
        self._hub: threading.Thread | None = None
        self._hub_error: str | None = None
        self._wake_w: int | None = None
        # Owned by the hub thread once started:
        self._emit: EventSink | None = None
        self._sock: socket.socket | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: int | None = None
        self._inbox = bytearray()
        self._pending: deque[_Try] = deque()
        self._tries: dict[int, _Try] = {}  # launched, process not yet reaped
        self._next_id = 0
        self._closing = False
        self._server_gone = False

    # -- the Executor API ---------------------------------------------------------------
    def start(self, emit: EventSink) -> None:
        """Start the fork server and wait until it has imported its modules (ConfigError if one fails)."""
        with self._lock:
            if self._hub is not None and self._hub.is_alive():
                raise RuntimeError("ProcessExecutor.start() while already started")
        self._release()  # what a stopped hub left
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-c", _SERVER_CODE, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            self._handshake(ours, server)
        except BaseException:
            ours.close()
            _stop_server(server)
            raise
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        selector = selectors.DefaultSelector()
        selector.register(ours, selectors.EVENT_READ, "control")
        selector.register(wake_r, selectors.EVENT_READ, "wake")
        self._emit, self._sock, self._selector, self._wake_r = emit, ours, selector, wake_r
        self._pending, self._tries, self._closing, self._server_gone = deque(), {}, False, False
        self._commands.clear()
        hub = threading.Thread(target=self._run_hub, name="headwater-process", daemon=True)
        with self._lock:
            self._server, self._hub, self._wake_w, self._hub_error = server, hub, wake_w, None
            self._pids.clear()
        hub.start()

    def submit(self, submission: TaskSubmission) -> None:
        self._post(lambda: self._on_submit(submission), "submit")

    def cancel(self, key: TaskKey) -> None:
        """Stop the try: its process group gets SIGTERM now and SIGKILL after ``kill_grace``."""
        with contextlib.suppress(RuntimeError):  # not running: nothing to cancel
            self._post(lambda: self._on_cancel(key), "cancel")

    def check_health(self) -> ExecutorHealth:
        with self._lock:
            server, hub, error = self._server, self._hub, self._hub_error
            running = len(self._pids)
        if server is None or hub is None:
            return ExecutorHealth(False, "the process executor is not started")
        code = server.poll()
        if code is not None:
            return ExecutorHealth(False, f"the fork server (pid {server.pid}) {describe_exit(code)}")
        if not hub.is_alive():
            return ExecutorHealth(False, f"the process executor's event thread stopped: {error or 'unknown error'}")
        return ExecutorHealth(True, f"fork server pid {server.pid}, {running} task process(es)")

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the fork server. ``wait``: after every submitted try has finished; else stop them first.

        Stopped tries get SIGTERM, then SIGKILL after ``kill_grace``; no process is left behind.
        """
        with self._lock:
            hub = self._hub
        if hub is None or not hub.is_alive():
            self._release()
            return
        with contextlib.suppress(RuntimeError):
            self._post(lambda: self._on_shutdown(wait), "shutdown")
        if hub is not threading.current_thread():
            hub.join(None if wait else self.settings.kill_grace + 30)
        self._release()

    @property
    def capacity(self) -> int | None:
        return self.parallelism

    @property
    def server_pid(self) -> int | None:
        """The fork server's process id while started."""
        with self._lock:
            return None if self._server is None or self._hub is None else self._server.pid

    def pid_of(self, key: TaskKey) -> int | None:
        """The process id running ``key`` now (None before it is forked and after it exits)."""
        with self._lock:
            return self._pids.get(key)

    # -- plumbing ----------------------------------------------------------------------------
    def _post(self, command: Callable[[], None], what: str) -> None:
        with self._lock:
            if self._wake_w is None or self._hub is None or not self._hub.is_alive():
                raise RuntimeError(f"ProcessExecutor.{what}() before start() or after shutdown()")
            self._commands.append(command)
            with contextlib.suppress(BlockingIOError):  # full: the hub is awake anyway
                os.write(self._wake_w, b"x")

    def _handshake(self, sock: socket.socket, server: subprocess.Popen[bytes]) -> None:
        init = {"op": "init", "sys_path": list(sys.path), "preload": list(self.settings.preload)}
        sock.sendall(json.dumps(init).encode() + b"\n")
        sock.settimeout(START_TIMEOUT)
        buffer = bytearray()
        try:
            while b"\n" not in buffer:
                data = sock.recv(_READ_SIZE)
                if not data:
                    code = server.wait()
                    raise RuntimeError(f"process executor: the fork server {describe_exit(code)} while starting")
                buffer += data
        except TimeoutError:
            raise RuntimeError(f"process executor: the fork server did not start within {START_TIMEOUT:g}s") from None
        finally:
            sock.settimeout(None)
        reply = json.loads(buffer[: buffer.index(b"\n")])
        if reply["op"] == "error":
            raise ConfigError(f"process executor option 'preload': cannot import {reply['module']!r}: {reply['error']}")
        self._inbox = buffer[buffer.index(b"\n") + 1 :]

    def _release(self) -> None:
        """Forget a stopped hub (after shutdown, or if it died), so that start() may run again."""
        with self._lock:
            hub, server = self._hub, self._server
            if hub is not None and hub.is_alive():
                return
            self._hub = None
            wake_w, self._wake_w = self._wake_w, None
            self._pids.clear()
        if wake_w is not None:
            with contextlib.suppress(OSError):
                os.close(wake_w)
        if server is not None and server.poll() is None:
            _stop_server(server)

    # -- the hub thread ---------------------------------------------------------------------
    def _run_hub(self) -> None:
        try:
            self._loop()
        except BaseException as exc:
            with self._lock:
                self._hub_error = f"{type(exc).__name__}: {exc}"
            log.exception("the process executor's event thread failed")
            for tr in [*self._tries.values(), *self._pending]:
                self._kill_directly(tr)
        finally:
            self._close_hub()

    def _loop(self) -> None:
        assert self._selector is not None
        self._read_control(b"")  # messages that arrived with the handshake
        while not (self._closing and not self._pending and not self._tries):
            for key, _ in self._selector.select(self._next_timer()):
                if key.data == "wake":
                    self._run_commands()
                elif key.data == "control":
                    self._on_control()
                else:
                    self._read_events(key.data)
            self._fire_timers()
            self._launch()

    def _close_hub(self) -> None:
        if self._sock is not None and not self._server_gone:
            with contextlib.suppress(OSError):
                self._sock.sendall(b'{"op": "stop"}\n')
        with self._lock:
            server = self._server
            self._pids.clear()
        if server is not None:
            _stop_server(server)
        for tr in self._tries.values():
            self._close_pipe(tr)
        self._tries.clear()
        self._pending.clear()
        if self._selector is not None:
            self._selector.close()
        if self._sock is not None:
            self._sock.close()
        if self._wake_r is not None:
            with contextlib.suppress(OSError):
                os.close(self._wake_r)
        self._sock = self._selector = self._wake_r = None

    def _run_commands(self) -> None:
        assert self._wake_r is not None
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass
        while True:
            with self._lock:
                if not self._commands:
                    return
                command = self._commands.popleft()
            command()

    def _send(self, tr: _Try) -> None:
        """Hand a try to the fork server, with the write end of its event pipe."""
        assert self._sock is not None and self._selector is not None
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        message: dict[str, Any] = {
            "op": "run",
            "id": tr.rid,
            "submission": tr.submission.to_json(),
            "heartbeat": self._heartbeat(tr.submission),
            "memory_limit": self.settings.memory_limit,
        }
        data = json.dumps(message).encode() + b"\n"
        try:
            sent = socket.send_fds(self._sock, [data], [write_fd])
            if sent < len(data):
                self._sock.sendall(data[sent:])
        except OSError:
            os.close(read_fd)
            self._server_died()
            self._report(tr, "the fork server is not running")
            return
        finally:
            os.close(write_fd)
        tr.fd = read_fd
        self._tries[tr.rid] = tr
        self._selector.register(read_fd, selectors.EVENT_READ, tr)

    def _heartbeat(self, submission: TaskSubmission) -> float | None:
        interval = submission.heartbeat_interval
        if interval is None:
            return self.settings.heartbeat_interval
        return interval if interval > 0 else None

    def _kill(self, tr: _Try, sig: int) -> None:
        if self._server_gone:
            self._kill_directly(tr, sig)
            return
        assert self._sock is not None
        try:
            self._sock.sendall(json.dumps({"op": "kill", "id": tr.rid, "signal": int(sig)}).encode() + b"\n")
        except OSError:
            self._server_died()

    def _kill_directly(self, tr: _Try, sig: int = signal.SIGKILL) -> None:
        """Without the server (it died): signal the try's group from here, once its pid is known."""
        if tr.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(tr.pid, sig)

    def _stop(self, tr: _Try) -> None:
        """Begin killing a try's process tree: SIGTERM now, SIGKILL after the grace."""
        tr.done = True
        if tr.stopping:
            return
        tr.stopping = True
        grace = self.settings.kill_grace
        if grace > 0:
            self._kill(tr, signal.SIGTERM)
            tr.kill_at = time.monotonic() + grace
        else:
            self._kill(tr, signal.SIGKILL)

    def _deliver(self, event: TaskEvent) -> None:
        assert self._emit is not None
        try:
            self._emit(event)
        except Exception:  # a broken sink must not stop the other tries' events
            log.exception("the process executor's event sink failed on %s", event.key)

    def _report(self, tr: _Try, error: str, *, timed_out: bool = False) -> None:
        """End a try that did not report its own outcome with a FAILED event."""
        if tr.done:
            return
        tr.done = True
        self._deliver(
            TaskEvent(
                key=tr.key,
                kind=EventKind.FAILED,
                at=time.time(),
                error=error,
                error_type="TaskTimedOut" if timed_out else "WorkerDied",
                retryable=True,
                timed_out=timed_out,
            )
        )

    # -- commands (run on the hub thread) ---------------------------------------------------
    def _on_submit(self, submission: TaskSubmission) -> None:
        tr = _Try(self._next_id, submission)
        self._next_id += 1
        if self._server_gone or self._closing:
            reason = "the fork server is not running" if self._server_gone else "the executor is shutting down"
            self._report(tr, f"cannot start the try: {reason}")
            return
        self._pending.append(tr)

    def _on_cancel(self, key: TaskKey) -> None:
        for tr in self._pending:
            if tr.key == key:
                self._pending.remove(tr)
                return
        for tr in self._tries.values():
            if tr.key == key and not tr.done:
                self._stop(tr)

    def _on_shutdown(self, wait: bool) -> None:
        self._closing = True
        if not wait:
            self._pending.clear()
            for tr in self._tries.values():
                self._stop(tr)

    # -- I/O and timers ---------------------------------------------------------------------
    def _launch(self) -> None:
        running = sum(1 for tr in self._tries.values() if not tr.done)
        while self._pending and running < (self.parallelism or 1) and not self._server_gone:
            self._send(self._pending.popleft())
            running += 1

    def _next_timer(self) -> float | None:
        due = [t for tr in self._tries.values() for t in (tr.deadline, tr.kill_at) if t is not None]
        return None if not due else max(min(due) - time.monotonic(), 0.0)

    def _fire_timers(self) -> None:
        now = time.monotonic()
        for tr in list(self._tries.values()):
            if tr.deadline is not None and now >= tr.deadline:
                tr.deadline = None
                if not tr.done:
                    timeout = tr.submission.timeout or 0.0
                    self._report(tr, f"timed out after {timeout:g}s (process tree killed)", timed_out=True)
                    self._stop(tr)
            if tr.kill_at is not None and now >= tr.kill_at:
                tr.kill_at = None
                self._kill(tr, signal.SIGKILL)

    def _on_control(self) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(_READ_SIZE)
        except OSError:
            data = b""
        if not data:
            self._server_died()
            return
        self._read_control(data)

    def _read_control(self, data: bytes) -> None:
        self._inbox += data
        while (end := self._inbox.find(b"\n")) >= 0:
            message = json.loads(self._inbox[:end])
            del self._inbox[: end + 1]
            tr = self._tries.get(message.get("id", -1))
            if tr is None:
                continue
            if message["op"] == "started":
                tr.pid = int(message["pid"])
                with self._lock:
                    self._pids[tr.key] = tr.pid
            elif message["op"] == "exited":
                self._on_exit(tr, int(message["code"]))

    def _read_events(self, tr: _Try) -> None:
        """Read what the try's child wrote (all of it, if the child has exited)."""
        while tr.fd is not None:
            try:
                data = os.read(tr.fd, _READ_SIZE)
            except BlockingIOError:
                return
            if not data:  # the child closed the pipe: its exit comes from the server
                self._close_pipe(tr)
                return
            tr.buffer += data
            while (end := tr.buffer.find(b"\n")) >= 0:
                line = bytes(tr.buffer[:end])
                del tr.buffer[: end + 1]
                self._on_event(tr, line)

    def _on_event(self, tr: _Try, line: bytes) -> None:
        if tr.done:
            return  # after the outcome, a cancel or a timeout: nothing more
        try:
            event = TaskEvent.from_json(line.decode())
        except Exception:  # half a line from a killed child
            log.warning("ignoring an unreadable event from %s: %r", tr.key, line[:200])
            return
        if event.key != tr.key:
            return
        if event.kind is EventKind.STARTED and tr.submission.timeout is not None:
            tr.deadline = time.monotonic() + tr.submission.timeout
        elif event.kind in FINAL_KINDS:
            tr.done = True
            tr.deadline = None
        self._deliver(event)

    def _close_pipe(self, tr: _Try) -> None:
        if tr.fd is None:
            return
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(tr.fd)
        os.close(tr.fd)
        tr.fd = None

    def _on_exit(self, tr: _Try, code: int) -> None:
        self._read_events(tr)  # everything it wrote before exiting is in the pipe
        self._close_pipe(tr)
        del self._tries[tr.rid]
        with self._lock:
            if self._pids.get(tr.key) == tr.pid:
                del self._pids[tr.key]
        if not tr.done:
            hint = " (the out-of-memory killer, or killed by hand)" if code == -signal.SIGKILL else ""
            self._report(tr, f"worker process died: {describe_exit(code)}{hint} before reporting an outcome")

    def _server_died(self) -> None:
        """The fork server is gone: kill what it left running and fail every try it held."""
        if self._server_gone:
            return
        self._server_gone = True
        assert self._selector is not None and self._sock is not None
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self._sock)
        for tr in list(self._tries.values()):
            self._kill_directly(tr)
            self._read_events(tr)
            self._close_pipe(tr)
            self._report(tr, "worker process died: the fork server exited unexpectedly")
        self._tries.clear()
        with self._lock:
            self._pids.clear()
        while self._pending:
            self._report(self._pending.popleft(), "cannot start the try: the fork server is not running")


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    """Wait for the fork server to exit (it kills its children first); kill it if it does not."""
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
