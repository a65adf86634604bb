"""The event source contract: a source watches every trigger of one kind and emits events for them.

A source is built with the subscriptions (pipeline + trigger) of its kind and a
:class:`SourceContext`; :meth:`EventSource.start` hands it an :class:`Emitter`
that stores each event (committed) before it can fire a run. Plugins register
more sources by kind through ``headwater_register_event_sources``.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from headwater.executors.base import JSON
from headwater.model.triggers import Trigger

if TYPE_CHECKING:
    from headwater.config.settings import Project
    from headwater.engine.clock import Clock
    from headwater.store.repository import Store

log = logging.getLogger("headwater.events")

#: A payload: the JSON object stored with an event (``headwater history RUN_ID`` shows it).
Payload = Mapping[str, JSON]
#: What a cursor check found: the trigger's new cursor and the payloads of the new events.
Found = tuple[str, Sequence[Payload]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """One trigger of one pipeline: what a source watches on the pipeline's behalf."""

    pipeline_id: str
    pipeline_file: str | None
    trigger: Trigger

    @property
    def key(self) -> str:
        """The trigger's description: its name in ``hw_events`` and ``hw_trigger_cursors``."""
        return self.trigger.describe()


class Emitter(Protocol):
    """How a source reports events (each stored in a committed transaction, then the scheduler wakes)."""

    def emit(self, subscription: Subscription, payload: Payload) -> int:
        """Store one event for ``subscription``; return its id."""
        ...

    def advance(self, subscription: Subscription, check: Callable[[str | None], Found | None]) -> list[int]:
        """Move the trigger's stored cursor: ``check(cursor)`` returns None (no news) or the new cursor and
        the payloads found since the old one. Exactly once across schedulers; returns the stored event ids.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceContext:
    """What a source may use: the project (root, settings), the metadata store, the clock, the poll interval."""

    project: Project
    store: Store
    clock: Clock
    poll_interval: float = 2.0


class EventSource(ABC):
    """Watches the triggers of one ``kind``; subclass it to add a kind (register it by that kind's name).

    The scheduler builds one source per kind with the subscriptions of every
    pipeline, calls :meth:`start` once, :meth:`update` when pipelines change and
    :meth:`stop` on shutdown. :meth:`check` runs when a project is loaded
    (scheduler, ``headwater show``) and raises DefinitionError for triggers that
    cannot work there (an unknown connection, an unknown asset).
    """

    kind: ClassVar[str] = ""

    def __init__(self, subscriptions: Sequence[Subscription], context: SourceContext) -> None:
        self.context = context
        self._subscriptions: tuple[Subscription, ...] = tuple(subscriptions)
        self._lock = threading.Lock()

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """The subscriptions watched now."""
        with self._lock:
            return self._subscriptions

    def update(self, subscriptions: Sequence[Subscription]) -> None:
        """Watch ``subscriptions`` from now on (pipelines were added, changed or removed)."""
        with self._lock:
            self._subscriptions = tuple(subscriptions)

    @classmethod
    def check(cls, trigger: Trigger, *, project: Project, asset_keys: Collection[str] | None) -> None:
        """Raise DefinitionError if ``trigger`` cannot work in ``project`` (default: always fine)."""
        return

    @abstractmethod
    def start(self, emit: Emitter) -> None:
        """Begin watching; return promptly (watch in a thread)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop watching and release resources; return promptly."""

    def poll(self) -> None:  # noqa: B027 - optional: only sources that look for news implement it
        """Look for news once, now (sources that poll; used by tests and right after start)."""


class PollingSource(EventSource):
    """A source that looks for news every ``poll_interval`` seconds in a thread (first look: in :meth:`start`)."""

    def __init__(self, subscriptions: Sequence[Subscription], context: SourceContext) -> None:
        super().__init__(subscriptions, context)
        self.emitter: Emitter | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._poll_lock = threading.Lock()

    def start(self, emit: Emitter) -> None:
        self.emitter = emit
        self.poll()  # the baseline is taken before the scheduler's first pass returns
        self._thread = threading.Thread(target=self._loop, name=f"headwater-events-{self.kind}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.context.poll_interval):
            self.poll()

    def poll(self) -> None:
        if self.emitter is None:
            return
        with self._poll_lock:
            for subscription in self.subscriptions:
                if self._stop.is_set():
                    return
                try:
                    self.poll_one(subscription, self.emitter)
                except Exception:  # one broken trigger (or a database hiccup) must not stop the others
                    log.exception(
                        "event trigger %s of pipeline '%s' failed", subscription.key, subscription.pipeline_id
                    )

    @abstractmethod
    def poll_one(self, subscription: Subscription, emit: Emitter) -> None:
        """Look for news of one subscription and emit them."""

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)


def group_by(
    subscriptions: Sequence[Subscription], key: Callable[[Subscription], str]
) -> dict[str, list[Subscription]]:
    """Subscriptions grouped by ``key`` (e.g. the webhook name), in order."""
    out: dict[str, list[Subscription]] = {}
    for sub in subscriptions:
        out.setdefault(key(sub), []).append(sub)
    return out
