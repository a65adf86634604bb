"""Event triggers: what starts a pipeline's run besides a cron schedule (files, assets, webhooks, NOTIFY)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import ClassVar

from headwater.errors import DefinitionError
from headwater.model.durations import Duration, format_duration, parse_duration

#: A pipeline's pending events fire at the latest this many debounce periods after the first of them.
MAX_DEBOUNCE_FACTOR = 5

_WEBHOOK_NAME = re.compile(r"^[a-z0-9_-]{1,100}$")
_CHANNEL = re.compile(r"^[a-z_][a-z0-9_$]{0,62}$")
_CONN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")


class Trigger:
    """The base of every event trigger: a ``kind`` naming its event source, a ``debounce``, a ``describe()``.

    Plugins add triggers by subclassing this (a frozen dataclass with a ``kind``)
    and registering an event source for that kind through
    ``headwater_register_event_sources``.
    """

    __slots__ = ()
    #: The event source that watches this trigger ("file", "asset", "webhook", "database", or a plugin's).
    kind: ClassVar[str] = ""

    @property
    def debounce_seconds(self) -> float:
        """How long the pipeline waits for more events before one run fires (seconds)."""
        return parse_duration(getattr(self, "debounce", 0), what=f"{self.kind} trigger debounce")

    def describe(self) -> str:
        """A stable one-line description (``file:landing/*.csv``), also the trigger's key in the store."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.describe()


def _check_debounce(value: Duration, kind: str) -> None:
    parse_duration(value, what=f"{kind} trigger: debounce")


@dataclass(frozen=True, slots=True)
class FileArrival(Trigger):
    """Fire when files matching ``path_glob`` appear or change (polled; relative to the project directory).

    >>> FileArrival("landing/orders/*.csv", debounce="60s")
    """

    path_glob: str
    _: KW_ONLY
    debounce: Duration = 60.0
    kind: ClassVar[str] = "file"

    def __post_init__(self) -> None:
        check_glob(self.path_glob)
        _check_debounce(self.debounce, self.kind)

    def describe(self) -> str:
        return f"file:{self.path_glob}"


@dataclass(frozen=True, slots=True)
class AssetUpdated(Trigger):
    """Fire when any of ``assets`` (keys, or asset definitions) is materialized: one event per materialization."""

    assets: Sequence[object]
    _: KW_ONLY
    debounce: Duration = 0.0
    keys: tuple[str, ...] = field(init=False, default=())
    kind: ClassVar[str] = "asset"

    def __post_init__(self) -> None:
        given: Sequence[object] = [self.assets] if isinstance(self.assets, str) else self.assets
        if not isinstance(given, Sequence) or not given:
            raise DefinitionError(
                f"asset trigger: expected a non-empty list of asset keys or assets, got {self.assets!r}"
            )
        keys: list[str] = []
        for item in given:
            key = item if isinstance(item, str) else getattr(item, "key", None)
            if not isinstance(key, str) or not key.strip():
                raise DefinitionError(f"asset trigger: {item!r} is neither an asset key nor an asset")
            if key not in keys:
                keys.append(key)
        object.__setattr__(self, "keys", tuple(keys))
        object.__setattr__(self, "assets", tuple(keys))
        _check_debounce(self.debounce, self.kind)

    def describe(self) -> str:
        return f"asset:{','.join(self.keys)}"


@dataclass(frozen=True, slots=True)
class Webhook(Trigger):
    """Fire on ``POST /hooks/<name>`` to the scheduler's webhook server, with ``Authorization: Bearer <token>``."""

    name: str
    _: KW_ONLY
    debounce: Duration = 0.0
    kind: ClassVar[str] = "webhook"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _WEBHOOK_NAME.match(self.name):
            raise DefinitionError(
                f"webhook trigger: invalid name {self.name!r}: use lowercase letters, digits, '_' and '-' "
                "(it becomes the URL /hooks/<name>)"
            )
        _check_debounce(self.debounce, self.kind)

    def describe(self) -> str:
        return f"webhook:{self.name}"


@dataclass(frozen=True, slots=True)
class DatabaseChange(Trigger):
    """Fire on a PostgreSQL ``NOTIFY channel`` received on the connection ``conn`` (``LISTEN``)."""

    conn: str
    channel: str
    _: KW_ONLY
    debounce: Duration = 0.0
    kind: ClassVar[str] = "database"

    def __post_init__(self) -> None:
        if not isinstance(self.conn, str) or not _CONN_ID.match(self.conn):
            raise DefinitionError(f"database trigger: invalid connection id {self.conn!r}")
        if not isinstance(self.channel, str) or not _CHANNEL.match(self.channel):
            raise DefinitionError(
                f"database trigger: invalid channel {self.channel!r}: use a lowercase PostgreSQL identifier "
                "(letters, digits, '_', starting with a letter or '_', at most 63 characters)"
            )
        _check_debounce(self.debounce, self.kind)

    def describe(self) -> str:
        return f"database:{self.conn}/{self.channel}"


def check_glob(pattern: object) -> None:
    """Raise DefinitionError if ``pattern`` is not a usable file glob."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise DefinitionError(
            f"file trigger: expected a path glob like 'landing/orders/*.csv' (relative to the project directory), "
            f"got {pattern!r}"
        )
    if "\x00" in pattern:
        raise DefinitionError(f"file trigger: the glob {pattern!r} contains a NUL character")
    if pattern.endswith(("/", "\\")):
        raise DefinitionError(
            f"file trigger: {pattern!r} names a directory; match its files with a pattern like '{pattern}*'"
        )
    i = 0
    while i < len(pattern):
        if pattern[i] == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] == "!":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1  # a ']' first in a class is literal
            close = pattern.find("]", j)
            if close < 0:
                raise DefinitionError(
                    f"file trigger: unbalanced '[' in the glob {pattern!r} (write '[[]' for a literal '['); "
                    "relative globs are relative to the project directory"
                )
            i = close
        i += 1


def as_triggers(value: object) -> tuple[Trigger, ...] | None:
    """``value`` as a tuple of triggers if it is a trigger or a list of them; None if it is neither."""
    if isinstance(value, Trigger):
        return (value,)
    if isinstance(value, list | tuple) and value and all(isinstance(v, Trigger) for v in value):
        unique: list[Trigger] = []
        for item in value:
            if item.describe() not in {u.describe() for u in unique}:
                unique.append(item)
        return tuple(unique)
    return None


def describe_triggers(triggers: Sequence[Trigger], *, debounce: bool = False) -> str:
    """``file:a/*.csv | webhook:b`` (with ``debounce``, each trigger's debounce when it has one)."""
    parts = []
    for trig in triggers:
        text = trig.describe()
        if debounce and trig.debounce_seconds:
            text += f" (debounce {format_duration(trig.debounce_seconds)})"
        parts.append(text)
    return " | ".join(parts)
