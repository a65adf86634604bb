"""Per-task options (retries, timeout, pool, priority, trigger rule, circuit breaker), validated from keywords."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from headwater.errors import DefinitionError
from headwater.model.durations import Duration, parse_duration
from headwater.model.retry import Retry
from headwater.model.trigger_rules import TriggerRule


class TaskOptionArgs(TypedDict, total=False):
    """The keyword options every task accepts (``@task``, operators, ``default_args``)."""

    retries: int
    retry_delay: Duration
    retry_backoff: bool
    max_retry_delay: Duration | None
    retry_on: type[BaseException] | tuple[type[BaseException], ...]
    retry_jitter: bool | float
    retry_budget: Duration | None
    circuit_breaker: int | None
    timeout: Duration | None
    pool: str | None
    pool_slots: int
    priority: int
    trigger_rule: TriggerRule | str
    owner: str | None
    tags: tuple[str, ...] | list[str]
    cache: bool
    cache_key: Callable[..., str] | None
    cache_expiration: Duration | None


OPTION_NAMES = frozenset(TaskOptionArgs.__annotations__)
_RETRY_KEYS = {
    "retries": "retries",
    "retry_delay": "delay",
    "retry_backoff": "backoff",
    "max_retry_delay": "max_delay",
    "retry_on": "retry_on",
    "retry_jitter": "jitter",
    "retry_budget": "budget",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskOptions:
    """The resolved options of one task."""

    retry: Retry = field(default_factory=Retry)
    timeout: float | None = None
    pool: str | None = None
    pool_slots: int = 1
    priority: int = 1
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    owner: str | None = None
    tags: tuple[str, ...] = ()
    #: open the task's circuit breaker after this many consecutive failed runs (None: never)
    circuit_breaker: int | None = None
    #: reuse the result of an earlier try with the same cache key instead of running (see docs/caching.md)
    cache: bool = False
    #: called with the task's inputs, returns the cache key (None: code + inputs + partition)
    cache_key: Callable[..., str] | None = None
    #: seconds after which a cached result is no longer reused (None: never expires)
    cache_expiration: float | None = None

    @property
    def max_tries(self) -> int:
        return self.retry.retries + 1


DEFAULT_OPTIONS = TaskOptions()


def check_option_names(options: Mapping[str, object], *, where: str) -> None:
    """Raise a DefinitionError naming any key that is not a task option."""
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        known = ", ".join(sorted(OPTION_NAMES))
        raise DefinitionError(f"{where}: unknown option(s) {', '.join(unknown)} (known: {known})")


def resolve_options(
    explicit: Mapping[str, object],
    defaults: Mapping[str, object] | None = None,
    *,
    where: str,
) -> TaskOptions:
    """Merge ``defaults`` (a pipeline's default_args) under ``explicit`` and validate the result."""
    merged: dict[str, object] = {**(defaults or {}), **explicit}
    check_option_names(merged, where=where)
    if not merged:
        return DEFAULT_OPTIONS
    try:
        retry_args = {_RETRY_KEYS[k]: v for k, v in merged.items() if k in _RETRY_KEYS}
        retry = Retry.build(**retry_args) if retry_args else Retry()  # type: ignore[arg-type]
        timeout = merged.get("timeout")
        pool = merged.get("pool")
        pool_slots = merged.get("pool_slots", 1)
        priority = merged.get("priority", 1)
        owner = merged.get("owner")
        tags = merged.get("tags", ())
        circuit_breaker = merged.get("circuit_breaker")
        cache, cache_key, cache_expiration = _cache_options(merged)
        if pool is not None and not (isinstance(pool, str) and pool):
            raise DefinitionError(f"pool: expected a pool name, got {pool!r}")
        if isinstance(pool_slots, bool) or not isinstance(pool_slots, int) or pool_slots < 1:
            raise DefinitionError(f"pool_slots: expected a whole number >= 1, got {pool_slots!r}")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise DefinitionError(f"priority: expected a whole number, got {priority!r}")
        if owner is not None and not isinstance(owner, str):
            raise DefinitionError(f"owner: expected a string, got {owner!r}")
        if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
            raise DefinitionError(f"tags: expected a list of strings, got {tags!r}")
        if circuit_breaker is not None and (
            isinstance(circuit_breaker, bool) or not isinstance(circuit_breaker, int) or circuit_breaker < 1
        ):
            raise DefinitionError(
                f"circuit_breaker: expected a number of consecutive failed runs >= 1, or None, got {circuit_breaker!r}"
            )
        return TaskOptions(
            retry=retry,
            timeout=None if timeout is None else parse_duration(timeout, what="timeout"),  # type: ignore[arg-type]
            pool=pool,
            pool_slots=pool_slots,
            priority=priority,
            trigger_rule=TriggerRule.parse(merged.get("trigger_rule", TriggerRule.ALL_SUCCESS)),  # type: ignore[arg-type]
            owner=owner,
            tags=tuple(tags),
            circuit_breaker=circuit_breaker,
            cache=cache,
            cache_key=cache_key,
            cache_expiration=cache_expiration,
        )
    except DefinitionError as exc:
        raise DefinitionError(f"{where}: {exc.message}") from None


def _cache_options(merged: Mapping[str, object]) -> tuple[bool, Callable[..., str] | None, float | None]:
    """``cache``, ``cache_key`` (which implies ``cache=True`` unless cache is given) and ``cache_expiration``."""
    cache_key = merged.get("cache_key")
    if cache_key is not None and not callable(cache_key):
        raise DefinitionError(
            f"cache_key: expected a function that takes the task's inputs and returns a str, got {cache_key!r}"
        )
    cache = merged.get("cache", cache_key is not None)
    if not isinstance(cache, bool):
        raise DefinitionError(f"cache: expected True or False, got {cache!r}")
    expiration = merged.get("cache_expiration")
    seconds = None
    if expiration is not None:
        seconds = parse_duration(expiration, what="cache_expiration")  # type: ignore[arg-type]
        if seconds <= 0:
            raise DefinitionError(f"cache_expiration: must be longer than 0, got {expiration!r}")
    return cache, cache_key, seconds
