"""Retry policy: how many tries, how long to wait between them, which errors are worth it, and for how long."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from headwater.errors import DefinitionError
from headwater.model.durations import Duration, format_duration, parse_duration


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryDecision:
    """What to do after a try failed: retry after ``delay`` seconds, or fail (``reason`` says why).

    ``retry_number`` is the number of the retry being scheduled (1 for the first), 0 when not retrying.
    """

    retry: bool
    delay: float = 0.0
    reason: str = ""
    retry_number: int = 0
    budget_exhausted: bool = False

    def final_error(self, error: str) -> str:
        """The error to record when the task fails: ``error``, prefixed by the budget message if that stopped it."""
        if self.retry or not self.budget_exhausted:
            return error
        return f"{self.reason}; last error: {error}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Retry:
    """Retry a failed task up to ``retries`` more times.

    The n-th retry waits ``delay`` seconds, doubled for each earlier retry when
    ``backoff`` is set, capped at ``max_delay``. With ``jitter`` f (0 < f <= 1)
    the wait is drawn uniformly from ``[d * (1 - f), d]`` where d is that capped
    delay (1.0 is "full jitter", 0.0 is off), so it never exceeds ``max_delay``.
    Only exceptions that are instances of ``retry_on`` are retried; anything
    else fails at once. ``budget`` (seconds) bounds all tries of a task
    instance: no retry is scheduled to start later than ``budget`` seconds after
    its first try started.
    """

    retries: int = 0
    delay: float = 0.0
    backoff: bool = False
    max_delay: float | None = None
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    jitter: float = 0.0
    budget: float | None = None

    @classmethod
    def build(
        cls,
        *,
        retries: int = 0,
        delay: Duration = 0,
        backoff: bool = False,
        max_delay: Duration | None = None,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        jitter: bool | float = False,
        budget: Duration | None = None,
    ) -> Retry:
        """Validate user values (durations as strings, a single exception class) into a Retry."""
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise DefinitionError(f"retries: expected a whole number >= 0, got {retries!r}")
        if not isinstance(backoff, bool):
            raise DefinitionError(f"retry_backoff: expected True or False, got {backoff!r}")
        classes = retry_on if isinstance(retry_on, tuple) else (retry_on,)
        for cls_ in classes:
            if not (isinstance(cls_, type) and issubclass(cls_, BaseException)):
                raise DefinitionError(f"retry_on: expected exception classes, got {cls_!r}")
        budget_seconds = None if budget is None else parse_duration(budget, what="retry_budget")
        if budget_seconds is not None and budget_seconds <= 0:
            raise DefinitionError(f"retry_budget: expected a duration greater than zero, got {budget!r}")
        return cls(
            retries=retries,
            delay=parse_duration(delay, what="retry_delay"),
            backoff=backoff,
            max_delay=None if max_delay is None else parse_duration(max_delay, what="max_retry_delay"),
            retry_on=classes,
            jitter=parse_jitter(jitter),
            budget=budget_seconds,
        )

    def delay_before(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry), before jitter."""
        delay = self.delay * (2 ** (retry_number - 1) if self.backoff else 1)
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        return delay

    def jittered_delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        """:meth:`delay_before` with jitter applied: uniform in ``[d * (1 - jitter), d]``."""
        delay = self.delay_before(retry_number)
        if self.jitter <= 0 or delay <= 0:
            return delay
        low = delay * (1.0 - self.jitter)
        return min(delay, max(low, (rng or random).uniform(low, delay)))

    def is_retryable(self, error: BaseException) -> bool:
        """Whether ``error`` may be retried under this policy."""
        return isinstance(error, self.retry_on)

    def plan(
        self,
        *,
        tries: int,
        retryable: bool,
        now: float,
        first_started_at: float | None,
        error_type: str | None = None,
        rng: random.Random | None = None,
    ) -> RetryDecision:
        """Decide whether a failed try is retried, and after how long.

        ``tries``: the tries made under this policy so far, the failed one included (1 after the
        first try). ``retryable``: the worker's verdict (:meth:`is_retryable` of the exception).
        ``first_started_at``: when the first of those tries started (epoch seconds; None counts
        from ``now``). ``error_type`` only words the reason. ``rng`` makes jitter deterministic.
        """
        if not retryable:
            allowed = ", ".join(c.__name__ for c in self.retry_on)
            what = error_type or "the error"
            if any(c in (Exception, BaseException) for c in self.retry_on):  # so it was declared permanent
                return RetryDecision(retry=False, reason=f"not retryable: a permanent error ({what})")
            return RetryDecision(retry=False, reason=f"not retryable: {what} is not in retry_on ({allowed})")
        if tries > self.retries:
            return RetryDecision(retry=False, reason=f"no retries left ({_count(tries, 'try', 'tries')})")
        retry_number = tries
        delay = self.jittered_delay(retry_number, rng)
        if self.budget is not None:
            first = now if first_started_at is None else first_started_at
            elapsed = max(now - first, 0.0)
            if elapsed + delay > self.budget:
                reason = (
                    f"retry budget of {compact_duration(self.budget)} exhausted after {_count(tries, 'try', 'tries')}"
                    f" ({format_duration(elapsed)} since the first try started"
                )
                if elapsed <= self.budget:
                    reason += f"; the next retry would start after {format_duration(elapsed + delay)}"
                return RetryDecision(retry=False, reason=reason + ")", budget_exhausted=True)
        return RetryDecision(
            retry=True,
            delay=delay,
            retry_number=retry_number,
            reason=f"retry {retry_number} of {self.retries} in {compact_duration(delay)}",
        )


def parse_jitter(value: object) -> float:
    """``retry_jitter``: False/0 (off), True (1.0, full jitter) or a fraction in (0, 1]."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1:
        return float(value)
    raise DefinitionError(f"retry_jitter: expected True, False or a fraction between 0 and 1, got {value!r}")


def compact_duration(seconds: float) -> str:
    """Seconds as a short duration a person would write: 2h, 1h30m, 1m30s, 45s, 0.5s."""
    if seconds < 60:
        return f"{round(seconds, 2):g}s" if seconds < 10 else f"{round(seconds)}s"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
