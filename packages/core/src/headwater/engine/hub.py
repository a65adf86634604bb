"""One executor shared by every run a process drives: events are routed to their run by run id."""

from __future__ import annotations

import queue
import threading

from headwater.executors.base import EventKind, Executor, TaskEvent, TaskKey

#: Put on a run's queue to make its loop take another pass (a slot or capacity became free).
WAKE = TaskEvent(key=TaskKey("", "", -1), kind=EventKind.HEARTBEAT, at=0.0)


class ExecutorHub:
    """Starts an executor once and hands each run its own event queue."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._queues: dict[str, queue.SimpleQueue[TaskEvent]] = {}
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        with self._lock:
            if not self._started:
                self.executor.start(self._route)
                self._started = True

    def attach(self, run_id: str) -> queue.SimpleQueue[TaskEvent]:
        """The queue that receives every event of ``run_id``'s tries from now on."""
        q: queue.SimpleQueue[TaskEvent] = queue.SimpleQueue()
        with self._lock:
            self._queues[run_id] = q
        return q

    def detach(self, run_id: str, events: queue.SimpleQueue[TaskEvent] | None = None) -> None:
        """Stop routing ``run_id``'s events (only to ``events``, when given: a newer driver keeps its queue)."""
        with self._lock:
            if events is None or self._queues.get(run_id) is events:
                self._queues.pop(run_id, None)

    def wake(self, run_id: str) -> None:
        with self._lock:
            q = self._queues.get(run_id)
        if q is not None:
            q.put(WAKE)

    def _route(self, event: TaskEvent) -> None:
        with self._lock:
            q = self._queues.get(event.key.run_id)
        if q is not None:  # a run no longer driven here: its late events are dropped (fencing)
            q.put(event)

    def shutdown(self, *, wait: bool) -> None:
        with self._lock:
            started, self._started = self._started, False
        if started:
            self.executor.shutdown(wait=wait)
