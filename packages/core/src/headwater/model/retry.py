"""Retry policy: how many tries, how long to wait between them, which errors are worth it."""

from __future__ import annotations

from dataclasses import dataclass

from headwater.errors import DefinitionError
from headwater.model.durations import Duration, parse_duration


@dataclass(frozen=True, kw_only=True, slots=True)
class Retry:
    """Retry a failed task up to ``retries`` more times.

    The n-th retry waits ``delay`` seconds, doubled for each earlier retry when
    ``backoff`` is set, capped at ``max_delay``. Only exceptions that are
    instances of ``retry_on`` are retried; anything else fails at once.
    """

    retries: int = 0
    delay: float = 0.0
    backoff: bool = False
    max_delay: float | None = None
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    @classmethod
    def build(
        cls,
        *,
        retries: int = 0,
        delay: Duration = 0,
        backoff: bool = False,
        max_delay: Duration | None = None,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
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
        return cls(
            retries=retries,
            delay=parse_duration(delay, what="retry_delay"),
            backoff=backoff,
            max_delay=None if max_delay is None else parse_duration(max_delay, what="max_retry_delay"),
            retry_on=classes,
        )

    def delay_before(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
        delay = self.delay * (2 ** (retry_number - 1) if self.backoff else 1)
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        return delay

    def is_retryable(self, error: BaseException) -> bool:
        """Whether ``error`` may be retried under this policy."""
        return isinstance(error, self.retry_on)
