"""LocalExecutor: tries run on a pool of daemon threads in this process.

Timeouts. A Python thread cannot be killed, so a try over its timeout is
stopped in three ways at once: its ``ctx.cancelled`` event is set (``ctx.wait``
and sensors return at once, the BashOperator kills its process group), a
TaskCancelled exception is raised asynchronously inside the thread (pure-Python
code stops at its next bytecode), and the thread is abandoned: a fresh thread
takes its place so the pool keeps its size, and whatever the abandoned thread
reports later is ignored by the engine. Threads are daemons, so a try stuck in
a C call can never keep the process alive after the run ends. Use the process
executor (headwater-process) when a try must be killed outright.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from collections.abc import Mapping

from headwater.model.context import TaskCancelled
from headwater.plugin import (
    EventSink,
    Executor,
    ExecutorHealth,
    TaskKey,
    TaskSubmission,
    execute_submission,
)

DEFAULT_PARALLELISM = max(4, (os.cpu_count() or 1) * 4)


class _Slot:
    """What one worker thread is doing now."""

    __slots__ = ("abandoned", "cancelled", "key", "thread")

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.key: TaskKey | None = None
        self.cancelled: threading.Event | None = None
        self.abandoned = False


class LocalExecutor(Executor):
    """Runs each try on one of ``parallelism`` daemon threads (started as they are needed)."""

    name = "local"

    def __init__(self, *, parallelism: int | None = None, options: Mapping[str, object] | None = None) -> None:
        super().__init__(parallelism=parallelism or DEFAULT_PARALLELISM, options=options)
        self._queue: queue.SimpleQueue[TaskSubmission | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._idle = 0
        self._pending_cancel: set[TaskKey] = set()
        self._emit: EventSink | None = None
        self._closed = False

    def start(self, emit: EventSink) -> None:
        self._emit = emit
        self._closed = False

    def submit(self, submission: TaskSubmission) -> None:
        if self._emit is None:
            raise RuntimeError("LocalExecutor.submit() before start()")
        with self._lock:
            self._queue.put(submission)
            if self._idle > 0:
                self._idle -= 1  # that idle thread will take it
            elif len(self._live()) < (self.parallelism or DEFAULT_PARALLELISM):
                self._spawn()

    def _live(self) -> list[_Slot]:
        return [s for s in self._slots if not s.abandoned]

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name="headwater-local", daemon=True)
        slot = _Slot(thread)
        self._slots.append(slot)
        thread.start()

    def _slot(self) -> _Slot:
        current = threading.current_thread()
        with self._lock:
            return next(s for s in self._slots if s.thread is current)

    def _work(self) -> None:
        slot = self._slot()
        emit = self._emit
        assert emit is not None
        while True:
            try:
                submission = self._queue.get()
                if submission is None:
                    return
                with self._lock:
                    if submission.key in self._pending_cancel:
                        self._pending_cancel.discard(submission.key)
                        self._mark_idle(slot)
                        continue
                    slot.key = submission.key
                    slot.cancelled = threading.Event()
                execute_submission(submission, emit, cancelled=slot.cancelled)
            except TaskCancelled:
                pass  # an asynchronous stop that landed outside the task: nothing to report
            with self._lock:
                slot.key = None
                slot.cancelled = None
                if slot.abandoned:
                    self._slots.remove(slot)
                    return
                self._mark_idle(slot)

    def _mark_idle(self, slot: _Slot) -> None:
        self._idle += 1

    def cancel(self, key: TaskKey) -> None:
        with self._lock:
            slot = next((s for s in self._slots if s.key == key and not s.abandoned), None)
            if slot is None:
                self._pending_cancel.add(key)  # still queued: it will be dropped unstarted
                return
            assert slot.cancelled is not None
            slot.cancelled.set()
            slot.abandoned = True
            ident = slot.thread.ident
            if ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(TaskCancelled))
            if not self._closed:
                self._spawn()  # keep the pool at full strength

    def check_health(self) -> ExecutorHealth:
        with self._lock:
            dead = [s for s in self._live() if not s.thread.is_alive()]
        if dead:
            return ExecutorHealth(False, f"{len(dead)} worker thread(s) died")
        return ExecutorHealth(True, f"{len(self._live())} worker thread(s)")

    def shutdown(self, *, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
            live = self._live()
            for _ in live:
                self._queue.put(None)
            self._idle = 0
        if wait:
            for slot in live:
                slot.thread.join()
