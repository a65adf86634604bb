"""Time as the operators see it: injectable, so tests of backoff and budgets never sleep for real."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from headwater import Context


class Clock(Protocol):
    """What the HTTP operators need of time: a monotonic reading, the wall clock, and a cancellable wait."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (budgets are measured on it)."""
        ...

    def now(self) -> datetime:
        """The current UTC time (to read ``Retry-After`` dates when a response has no ``Date``)."""
        ...

    def sleep(self, ctx: Context, seconds: float) -> None:
        """Wait ``seconds``; raise TaskCancelled if the task is stopped meanwhile."""
        ...


class SystemClock:
    """The real clock; waits through ``ctx.wait`` so a stopped task stops waiting at once."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, ctx: Context, seconds: float) -> None:
        ctx.wait(seconds)
