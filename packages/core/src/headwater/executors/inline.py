"""The inline runner: each try runs to completion in the calling thread (``headwater test``).

Timeouts: on the main thread a try over its timeout is interrupted with a
SIGALRM-raised TaskTimedOut; elsewhere the inline runner cannot stop a try
(use the local or process executor when timeouts must be enforced).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from headwater.executors.base import EventSink, Executor, ExecutorHealth, TaskKey, TaskSubmission
from headwater.executors.worker import execute_submission
from headwater.model.context import TaskTimedOut


class InlineExecutor(Executor):
    """Runs each submitted try synchronously, in the caller's thread."""

    name = "inline"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(parallelism=1)
        self._emit: EventSink | None = None

    def start(self, emit: EventSink) -> None:
        self._emit = emit

    def submit(self, submission: TaskSubmission) -> None:
        if self._emit is None:
            raise RuntimeError("InlineExecutor.submit() before start()")
        cancelled = threading.Event()
        use_alarm = submission.timeout and threading.current_thread() is threading.main_thread()
        if use_alarm:

            def _alarm(_sig: int, _frame: FrameType | None) -> None:
                cancelled.set()
                raise TaskTimedOut(f"timed out after {submission.timeout:g}s")

            previous = signal.signal(signal.SIGALRM, _alarm)
            signal.setitimer(signal.ITIMER_REAL, float(submission.timeout or 0))
        try:
            execute_submission(submission, self._emit, cancelled=cancelled)
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)

    def check_health(self) -> ExecutorHealth:
        return ExecutorHealth(True, "inline")

    def cancel(self, key: TaskKey) -> None:
        """Nothing to cancel: a try has finished by the time submit() returns."""
