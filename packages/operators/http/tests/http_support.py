"""Test helpers shared by the fixtures and the tests: a fake clock and a log-line collector."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from headwater import Context

#: The API token in the test connection: it must never appear in a log line, an error or an event.
TOKEN = "hw-token-5Qx8vLr2Kp"


class FakeClock:
    """A clock whose waits advance time at once and are recorded (``sleeps``)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.start = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t - 1000.0)

    def sleep(self, ctx: Context, seconds: float) -> None:
        ctx.check_cancelled()
        self.sleeps.append(seconds)
        self.t += seconds


class Lines(logging.Handler):
    """Keeps every formatted log line of a logger."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
