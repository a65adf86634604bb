"""Rate limiting and deduplication of alerts in fixed windows of an injectable clock, and the burst summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from headwater.plugin import Alert, AlertKind
from headwater.secrets import mask
from headwater_slack.options import ThrottleOptions

ERROR_KEY_LIMIT = 200

AlertKey = tuple[str, str, str, str]


def alert_key(alert: Alert) -> AlertKey:
    """What makes two alerts "the same": kind, pipeline, task and error (the message when there is none)."""
    error = mask((alert.error or alert.message).strip())
    return (alert.kind.value, alert.pipeline_id, alert.task_id or "", error)


def error_line(alert: Alert) -> str:
    """The first line of the alert's error (or message), masked and shortened: how the summary groups errors."""
    text = mask((alert.error or alert.message).strip())
    line = text.splitlines()[0] if text else alert.kind.value
    return line if len(line) <= ERROR_KEY_LIMIT else line[: ERROR_KEY_LIMIT - 1] + "…"


@dataclass(frozen=True, kw_only=True, slots=True)
class Summary:
    """One window's alerts, for the summary message that replaces the ones not posted one by one."""

    #: every alert the window received (posted, held back and repeats)
    total: int
    #: how many of them were posted one by one
    posted: int
    #: how many were identical to one posted shortly before
    repeats: int
    #: alert counts by kind, most frequent first
    kinds: tuple[tuple[AlertKind, int], ...]
    #: alert counts by pipeline, most frequent first
    pipelines: tuple[tuple[str, int], ...]
    #: (first error line, count, number of pipelines), most frequent first
    errors: tuple[tuple[str, int, int], ...]
    #: the window length in seconds and the most alerts it posts one by one
    window: float
    limit: int


@dataclass(slots=True)
class _Window:
    start: float
    storm: bool
    posted: int = 0
    held: int = 0
    repeats: int = 0
    kinds: Counter[AlertKind] = field(default_factory=Counter)
    pipelines: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_pipelines: dict[str, set[str]] = field(default_factory=dict)

    @property
    def distinct(self) -> int:
        return self.posted + self.held

    def count(self, alert: Alert) -> None:
        self.kinds[alert.kind] += 1
        self.pipelines[alert.pipeline_id] += 1
        line = error_line(alert)
        self.errors[line] += 1
        self.error_pipelines.setdefault(line, set()).add(alert.pipeline_id)

    def summary(self, options: ThrottleOptions) -> Summary:
        return Summary(
            total=self.posted + self.held + self.repeats,
            posted=self.posted,
            repeats=self.repeats,
            kinds=tuple(self.kinds.most_common()),
            pipelines=tuple(self.pipelines.most_common()),
            errors=tuple((line, n, len(self.error_pipelines[line])) for line, n in self.errors.most_common()),
            window=options.window,
            limit=options.max_per_window,
        )


class Throttle:
    """Decides, for each alert at time ``now``, whether it is posted now, and which summaries are due.

    Windows are fixed: one opens with the first alert after a quiet spell and lasts ``window``
    seconds. In it, up to ``max_per_window`` distinct alerts are posted one by one; later ones are
    held back. When a window that held alerts back ends, its summary is due (one message for the
    whole window), and the next window is a "storm" window that holds every alert back, so a
    sustained flood gives one summary per window until a window stays under the limit. An alert
    identical to one posted (or summarised) less than ``dedup_window`` seconds ago is a repeat: it
    is never posted and only counted. Not thread-safe: the notifier serialises calls.
    """

    def __init__(self, options: ThrottleOptions) -> None:
        self.options = options
        self._window: _Window | None = None
        self._seen: dict[AlertKey, float] = {}

    def offer(self, alert: Alert, now: float) -> tuple[bool, list[Summary]]:
        """Count ``alert``; returns whether to post it now, and the summaries due first (windows that ended)."""
        due = self.due(now)
        window = self._window
        if window is None:
            window = self._window = _Window(start=now, storm=False)
        key = alert_key(alert)
        window.count(alert)
        seen = self._seen.get(key)
        if seen is not None and now - seen < self.options.dedup_window:
            window.repeats += 1
            return False, due
        self._seen[key] = now
        if not window.storm and window.posted < self.options.max_per_window:
            window.posted += 1
            return True, due
        window.held += 1
        return False, due

    def not_posted(self, alert: Alert) -> None:
        """Posting ``alert`` failed (and was reported): forget it, so the next identical alert is tried again."""
        self._seen.pop(alert_key(alert), None)
        if self._window is not None and self._window.posted > 0:
            self._window.posted -= 1

    def due(self, now: float) -> list[Summary]:
        """The summaries of windows that have ended by ``now`` (at most one: windows do not overlap)."""
        window = self._window
        if window is None or now < window.start + self.options.window:
            return []
        end = window.start + self.options.window
        storm = window.distinct > self.options.max_per_window
        self._window = _Window(start=end, storm=True) if storm and now < end + self.options.window else None
        self._prune(now)
        return [window.summary(self.options)] if window.held else []

    def next_due(self) -> float | None:
        """When the current window's summary is due (None: nothing is held back)."""
        window = self._window
        return window.start + self.options.window if window is not None and window.held else None

    def flush(self) -> Summary | None:
        """End the current window now: its summary if it held alerts back (on close)."""
        window, self._window = self._window, None
        return window.summary(self.options) if window is not None and window.held else None

    def _prune(self, now: float) -> None:
        horizon = now - self.options.dedup_window
        for key in [k for k, at in self._seen.items() if at <= horizon]:
            del self._seen[key]
