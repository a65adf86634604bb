"""LocalExecutor: tries run on a pool of daemon threads in this process.

Timeouts. A Python thread cannot be killed, so a try over its timeout is
stopped in three ways. At once, its ``ctx.cancelled`` event is set (``ctx.wait``
and sensors return, the BashOperator kills its process group) and its thread is
abandoned: a fresh thread takes its place so the pool keeps its size, and
whatever the abandoned thread reports later is ignored by the engine. If the try
is still running after a short grace (``cancel_grace``, 1 s by default, so that
cooperative clean-up such as killing a process group is never interrupted), a
TaskCancelled exception is raised asynchronously inside the thread (pure-Python
code stops at its next bytecode). Threads are daemons, so a try stuck in a C
call can never keep the process alive after the run ends. Use the process
executor (headwater-process) when a try must be killed outright.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
import time
from collections.abc import Mapping

from headwater import TaskCancelled
from headwater.plugin import (
    EventKind,
    EventSink,
    Executor,
    ExecutorHealth,
    TaskEvent,
    TaskKey,
    TaskSubmission,
    execute_submission,
)

DEFAULT_PARALLELISM = max(4, (os.cpu_count() or 1) * 4)
#: Seconds a cancelled try gets to stop by itself before TaskCancelled is raised inside its thread.
CANCEL_GRACE = 1.0


class _Slot:
    """What one worker thread is doing now."""

    __slots__ = ("abandoned", "cancelled", "key", "queue", "retired", "thread")

    def __init__(self, thread: threading.Thread, work: queue.SimpleQueue[TaskSubmission | None]) -> None:
        self.thread = thread
        self.queue = work  # the queue this thread serves (shutdown gives later threads a new one)
        self.key: TaskKey | None = None
        self.cancelled: threading.Event | None = None
        self.abandoned = False  # cancelled mid-try: the thread exits once the try ends
        self.retired = False  # shut down: the thread exits when it reaches the end of its queue


class LocalExecutor(Executor):
    """Runs each try on one of ``parallelism`` daemon threads (started as they are needed).

    ``options["cancel_grace"]`` (seconds, default :data:`CANCEL_GRACE`) sets how long a
    cancelled try may take to stop by itself before TaskCancelled is raised in its thread.
    """

    name = "local"

    def __init__(self, *, parallelism: int | None = None, options: Mapping[str, object] | None = None) -> None:
        super().__init__(parallelism=parallelism or DEFAULT_PARALLELISM, options=options)
        grace = self.options.get("cancel_grace", CANCEL_GRACE)
        if isinstance(grace, bool) or not isinstance(grace, int | float) or grace < 0:
            raise ValueError(f"cancel_grace: expected a number of seconds >= 0, got {grace!r}")
        self.cancel_grace = float(grace)
        self._queue: queue.SimpleQueue[TaskSubmission | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._idle = 0
        self._queued: set[TaskKey] = set()  # submitted, not yet taken by a thread
        self._emit: EventSink | None = None
        self._closed = False

    def start(self, emit: EventSink) -> None:
        self._emit = emit
        self._closed = False

    def submit(self, submission: TaskSubmission) -> None:
        if self._emit is None:
            raise RuntimeError("LocalExecutor.submit() before start()")
        with self._lock:
            self._queued.add(submission.key)
            self._queue.put(submission)
            if self._idle > 0:
                self._idle -= 1  # that idle thread will take it
            elif len(self._live()) < (self.parallelism or DEFAULT_PARALLELISM):
                self._spawn()

    def _live(self) -> list[_Slot]:
        return [s for s in self._slots if not (s.abandoned or s.retired)]

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name="headwater-local", daemon=True)
        slot = _Slot(thread, self._queue)
        self._slots.append(slot)
        thread.start()

    def _slot(self) -> _Slot:
        current = threading.current_thread()
        with self._lock:
            return next(s for s in self._slots if s.thread is current)

    def _work(self) -> None:
        slot = self._slot()
        while True:
            submission = slot.queue.get()
            if submission is None:
                with self._lock:
                    self._slots.remove(slot)
                return
            with self._lock:
                if submission.key not in self._queued:  # cancelled while queued: drop it unstarted
                    if not slot.retired:  # a retired thread only drains its old queue
                        self._idle += 1
                    continue
                self._queued.discard(submission.key)
                slot.key = submission.key
                slot.cancelled = threading.Event()
                emit = self._emit
            if self._run(slot, submission, emit):
                return

    def _run(self, slot: _Slot, submission: TaskSubmission, emit: EventSink | None) -> bool:
        """Run one claimed try; True when the thread must exit afterwards (the try was abandoned)."""
        try:
            assert emit is not None
            execute_submission(submission, emit, cancelled=slot.cancelled)
            return self._finish(slot)
        except TaskCancelled:
            # The asynchronous stop of an abandoned try, landed outside the task: nothing to report.
            # It is raised once per thread, so this clean-up runs through.
            return self._finish(slot)
        except Exception as exc:  # the worker failed, not the task: report it and keep the thread
            if emit is not None:
                error = f"worker error: {type(exc).__name__}: {exc}"
                emit(TaskEvent(key=submission.key, kind=EventKind.FAILED, at=time.time(), error=error))
            return self._finish(slot)

    def _finish(self, slot: _Slot) -> bool:
        """Free the slot after a try; True when its thread must exit (it was abandoned)."""
        while True:
            try:
                with self._lock:
                    slot.key = None
                    slot.cancelled = None
                    if slot.abandoned:
                        if slot in self._slots:
                            self._slots.remove(slot)
                        return True
                    if not slot.retired:
                        self._idle += 1
                    return False
            except TaskCancelled:
                continue  # a late asynchronous stop landed here: the clean-up is idempotent, redo it

    def cancel(self, key: TaskKey) -> None:
        with self._lock:
            if key in self._queued:
                self._queued.discard(key)  # the thread that takes it drops it unstarted
                return
            slot = next((s for s in self._slots if s.key == key and not s.abandoned), None)
            if slot is None:
                return  # finished already, or never submitted here
            assert slot.cancelled is not None
            slot.cancelled.set()
            slot.abandoned = True
            if not self._closed:
                self._spawn()  # keep the pool at full strength
        timer = threading.Timer(self.cancel_grace, self._interrupt, args=(slot, key))
        timer.daemon = True
        timer.start()

    def _interrupt(self, slot: _Slot, key: TaskKey) -> None:
        """Raise TaskCancelled in the slot's thread if it is still running the cancelled try."""
        with self._lock:  # the thread cannot leave the try while we hold the lock
            ident = slot.thread.ident
            if slot.key == key and ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(TaskCancelled))

    def check_health(self) -> ExecutorHealth:
        with self._lock:
            live = self._live()
            dead = [s for s in live if not s.thread.is_alive()]
        if dead:
            return ExecutorHealth(False, f"{len(dead)} worker thread(s) died")
        return ExecutorHealth(True, f"{len(live)} worker thread(s)")

    def shutdown(self, *, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
            live = self._live()
            old, self._queue = self._queue, queue.SimpleQueue()  # a later start() gets fresh threads
            for slot in live:
                slot.retired = True
                old.put(None)
            self._idle = 0
        if wait:
            for slot in live:
                slot.thread.join()
