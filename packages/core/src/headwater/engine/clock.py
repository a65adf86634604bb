"""Time for the engine: the system clock, or an injected one in tests (no sleeping)."""

from __future__ import annotations

import queue
import time
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """What the engine asks of time: the current time, and waiting for the next event."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def wait(self, events: queue.SimpleQueue[T], timeout: float | None, *, idle: bool) -> T | None:
        """The next event, or None once ``timeout`` seconds pass without one.

        ``idle`` is true when no task is running, so nothing but time can produce
        an event (an injected clock may then jump ahead instead of waiting).
        """
        ...


class SystemClock:
    """Real time; waits block on the event queue (woken by the event, never by polling)."""

    def now(self) -> float:
        return time.time()

    def wait(self, events: queue.SimpleQueue[T], timeout: float | None, *, idle: bool) -> T | None:
        try:
            return events.get(timeout=None if timeout is None else max(timeout, 0.0))
        except queue.Empty:
            return None


class FakeClock:
    """A clock that moves only when told to, or when the engine would otherwise wait idle.

    >>> clock = FakeClock(start=1_700_000_000.0)
    >>> clock.advance(60)
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.current = start
        self.waited: list[float] = []

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds

    def wait(self, events: queue.SimpleQueue[T], timeout: float | None, *, idle: bool) -> T | None:
        try:
            return events.get_nowait()
        except queue.Empty:
            pass
        if idle and timeout is not None:
            self.waited.append(timeout)
            self.current += max(timeout, 0.0)
            return None
        # Work is running in real threads: wait for it for real, but never forever, so that
        # timeouts and health checks still fire (time then jumps by what was waited for).
        try:
            return events.get(timeout=timeout)
        except queue.Empty:
            assert timeout is not None
            self.current += max(timeout, 0.0)
            return None
