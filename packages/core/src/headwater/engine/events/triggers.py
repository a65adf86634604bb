"""The scheduler's side of event triggers: sources per kind, events stored first, debounced runs fired once.

Every event a source reports is committed to ``hw_events`` (pending) before it
can fire anything, and the scheduler is woken. A pipeline's pending events fire
ONE run when no new event arrived for the debounce period (and at the latest
``MAX_DEBOUNCE_FACTOR`` x debounce after the first of them); the run is created
and every pending event linked to it in one transaction under the pipeline's
lock, with the deterministic id ``<pipeline>-event-<first event id>``, so several
schedulers fire it exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime

from headwater.config.settings import Project
from headwater.engine.clock import Clock
from headwater.engine.events.sources import EventSource, Found, Payload, SourceContext, Subscription
from headwater.errors import DefinitionError, PluginError
from headwater.model.pipeline import Pipeline
from headwater.model.triggers import MAX_DEBOUNCE_FACTOR, AssetUpdated, Trigger
from headwater.plugin.manager import Kind, PluginManager, get_manager
from headwater.store.repository import Store

log = logging.getLogger("headwater.events")

#: The ``trigger`` of runs that events started.
EVENT_TRIGGER = "event"


def event_run_id(pipeline_id: str, first_event_id: int) -> str:
    """The deterministic id of the run fired by a pipeline's pending events (the first one's id)."""
    return f"{pipeline_id}-event-{first_event_id}"


def source_class(kind: str, manager: PluginManager | None = None) -> type[EventSource]:
    """The event source registered for ``kind``; DefinitionError (with an install hint) if none is."""
    try:
        found = (manager or get_manager()).resolve(Kind.EVENT_SOURCE, kind)
    except PluginError as exc:
        raise DefinitionError(str(exc)) from None
    if not (isinstance(found, type) and issubclass(found, EventSource)):
        raise DefinitionError(f"the event source registered for {kind!r} ({found!r}) is not an EventSource subclass")
    return found


def check_triggers(
    pipeline: Pipeline,
    project: Project,
    *,
    asset_keys: Collection[str] | None = None,
    manager: PluginManager | None = None,
) -> None:
    """Raise DefinitionError (naming the pipeline and file) if a trigger cannot work in ``project``.

    Unknown connections, connections that are not PostgreSQL, unknown assets (when the
    asset graph is known) and trigger kinds no installed plugin watches are errors.
    """
    if asset_keys is None and any(isinstance(t, AssetUpdated) for t in pipeline.triggers):
        from headwater.engine.events.assets import project_asset_keys

        asset_keys = project_asset_keys(project)
    for trigger in pipeline.triggers:
        try:
            if not trigger.kind:
                raise DefinitionError(f"trigger {trigger!r} has no kind")
            source_class(trigger.kind, manager).check(trigger, project=project, asset_keys=asset_keys)
        except DefinitionError as exc:
            raise exc.located(pipeline=pipeline.id, file=pipeline.file) from None


class EventTriggers:
    """Runs the event sources of one scheduler, stores their events and fires debounced runs.

    It is also the :class:`~headwater.engine.events.sources.Emitter` handed to every source.
    """

    def __init__(
        self,
        project: Project,
        store: Store,
        *,
        clock: Clock,
        executor_name: str,
        wake: Callable[[], None] | None = None,
        poll_interval: float | None = None,
        recheck: float = 5.0,
        manager: PluginManager | None = None,
    ) -> None:
        self.project = project
        self.store = store
        self.clock = clock
        self.executor_name = executor_name
        self.wake = wake or (lambda: None)
        self.recheck = recheck
        self.manager = manager
        interval = project.settings.scheduler.event_poll_interval if poll_interval is None else poll_interval
        self.context = SourceContext(project=project, store=store, clock=clock, poll_interval=interval)
        self.sources: dict[str, EventSource] = {}
        self.errors: dict[str, DefinitionError] = {}
        self.pipelines: dict[str, Pipeline] = {}
        self._seen: dict[str, Pipeline] = {}
        self._dirty = True  # look for pending events at the first pass (left from before a restart)
        self._next_check = 0.0
        self._next_due: float | None = None
        self._lock = threading.Lock()

    # -- the Emitter the sources use ------------------------------------------------------------
    def emit(self, subscription: Subscription, payload: Payload) -> int:
        """Store one event (committed), then wake the scheduler."""
        from headwater.store.events import NewEvent, record_events

        event = NewEvent(
            pipeline_id=subscription.pipeline_id,
            trigger=subscription.key,
            kind=subscription.trigger.kind,
            payload=payload,
        )
        (event_id,) = record_events(self.store, [event], self.clock.now())
        log.info("event %s for pipeline '%s' from %s", event_id, subscription.pipeline_id, subscription.key)
        self._news()
        return event_id

    def advance(self, subscription: Subscription, check: Callable[[str | None], Found | None]) -> list[int]:
        """Move the trigger's cursor, storing the events ``check`` found (exactly once), then wake the scheduler."""
        from headwater.store.events import advance

        ids = advance(
            self.store,
            pipeline_id=subscription.pipeline_id,
            pipeline_file=subscription.pipeline_file,
            trigger=subscription.key,
            kind=subscription.trigger.kind,
            check=check,
            now=self.clock.now(),
        )
        if ids:
            log.info("%d event(s) for pipeline '%s' from %s", len(ids), subscription.pipeline_id, subscription.key)
            self._news()
        return ids

    def _news(self) -> None:
        self._dirty = True
        self.wake()

    # -- following the project's pipelines ---------------------------------------------------------
    def sync(self, pipelines: Mapping[str, Pipeline]) -> list[DefinitionError]:
        """Watch the triggers of ``pipelines`` (start, update or stop sources); return the triggers' errors.

        A pipeline whose triggers fail :func:`check_triggers` is not watched; the error is
        logged once per version of the pipeline and returned.
        """
        self.pipelines = dict(pipelines)
        watched = {pid: p for pid, p in pipelines.items() if p.triggers}
        if watched.keys() == self._seen.keys() and all(watched[k] is self._seen[k] for k in watched):
            return list(self.errors.values())
        self._seen = watched
        self._dirty = True  # a new trigger may find events another scheduler left pending
        asset_keys: Collection[str] | None = None
        if any(isinstance(t, AssetUpdated) for p in watched.values() for t in p.triggers):
            from headwater.engine.events.assets import project_asset_keys

            asset_keys = project_asset_keys(self.project)
        errors: dict[str, DefinitionError] = {}
        by_kind: dict[str, list[Subscription]] = {}
        for pid, pipeline in watched.items():
            try:
                check_triggers(pipeline, self.project, asset_keys=asset_keys, manager=self.manager)
            except DefinitionError as exc:
                errors[pid] = exc
                if str(exc) not in {str(e) for e in self.errors.values()}:
                    log.error("%s", exc)
                continue
            for trigger in pipeline.triggers:
                by_kind.setdefault(trigger.kind, []).append(
                    Subscription(pipeline_id=pid, pipeline_file=pipeline.file, trigger=trigger)
                )
        self.errors = errors
        for kind in list(self.sources):
            if kind not in by_kind:
                self._stop_source(self.sources.pop(kind))
        for kind, subscriptions in by_kind.items():
            source = self.sources.get(kind)
            if source is not None:
                source.update(subscriptions)
                continue
            cls = source_class(kind, self.manager)  # checked above
            source = cls(subscriptions, self.context)
            self.sources[kind] = source
            try:
                source.start(self)
            except Exception:
                log.exception("the %s event source failed to start", kind)
        return list(errors.values())

    def poll(self) -> None:
        """Let every source look for news now (sources that poll; the scheduler's threads do it on their own)."""
        for source in list(self.sources.values()):
            source.poll()

    def stop(self) -> None:
        """Stop every source (on scheduler shutdown)."""
        for source in list(self.sources.values()):
            self._stop_source(source)
        self.sources.clear()

    @staticmethod
    def _stop_source(source: EventSource) -> None:
        try:
            source.stop()
        except Exception:
            log.exception("the %s event source failed to stop", source.kind)

    # -- firing runs ----------------------------------------------------------------------------
    def has_pending(self) -> bool:
        """Events are waiting for their debounce (as of the last :meth:`fire_due`), or news arrived since."""
        return self._dirty or self._next_due is not None

    def fire_due(self, now: float) -> float | None:
        """Fire one run per pipeline whose pending events are due; return when the next ones are due."""
        if not self._dirty and now < self._next_check:
            return self._next_due
        self._dirty = False
        from headwater.store.events import pending_groups

        with self._lock:
            groups = pending_groups(self.store)
            by_pipeline: dict[str, list[tuple[str, datetime, datetime]]] = {}
            for group in groups:
                by_pipeline.setdefault(group.pipeline_id, []).append((group.trigger, group.first_at, group.last_at))
            upcoming: list[float] = []
            for pipeline_id, pending in by_pipeline.items():
                pipeline = self.pipelines.get(pipeline_id)
                if pipeline is None:
                    continue  # not (or no longer) a pipeline of this project: left pending
                due = due_at(pipeline.triggers, pending)
                if due <= now:
                    self._fire(pipeline, now)
                else:
                    upcoming.append(due)
            self._next_due = min(upcoming) if upcoming else None
            # a safety net for events stored by another scheduler that stopped before firing them
            watching = any(p.triggers for p in self.pipelines.values())
            self._next_check = min([*upcoming, now + self.recheck if watching else float("inf")])
        return self._next_due

    def _fire(self, pipeline: Pipeline, now: float) -> str | None:
        from headwater.engine.intervals import manual_interval
        from headwater.engine.run import new_task_instances, resolve_params
        from headwater.model.states import RunState
        from headwater.store.events import link_events, pending_ids
        from headwater.store.leases import insert_run_if_absent, lock_pipeline
        from headwater.store.records import RunRecord

        moment = datetime.fromtimestamp(now, UTC)
        with self.store.engine.begin() as conn:
            lock_pipeline(conn, pipeline.id, pipeline.file)
            ids = pending_ids(conn, pipeline.id)
            if not ids:
                return None  # another scheduler fired them a moment ago
            run_id = event_run_id(pipeline.id, ids[0])
            interval = manual_interval(pipeline, None, now)
            record = RunRecord(
                run_id=run_id,
                pipeline_id=pipeline.id,
                pipeline_file=pipeline.file,
                state=RunState.QUEUED,
                logical_date=interval.start if pipeline.cron else interval.end,
                interval_start=interval.start,
                interval_end=interval.end,
                params=resolve_params(pipeline, {}),
                trigger=EVENT_TRIGGER,
                executor=self.executor_name,
                created_at=moment,
            )
            if not insert_run_if_absent(conn, record, new_task_instances(pipeline, run_id)):
                log.warning("run %s exists already: linking its %d pending event(s) to it", run_id, len(ids))
            link_events(conn, ids, run_id)
        log.info("created run %s from %d event(s)", run_id, len(ids))
        return run_id


def due_at(triggers: Sequence[Trigger], pending: Sequence[tuple[str, datetime, datetime]]) -> float:
    """When pending events fire (epoch seconds): ``debounce`` after the newest, at the latest
    ``MAX_DEBOUNCE_FACTOR`` x ``debounce`` after the oldest (``debounce``: the longest of the triggers concerned).
    """
    from headwater.store.events import trigger_key

    debounces = {trigger_key(t.describe()): t.debounce_seconds for t in triggers}
    debounce = max((debounces.get(key, 0.0) for key, _, _ in pending), default=0.0)
    first = min(f.timestamp() for _, f, _ in pending)
    last = max(lt.timestamp() for _, _, lt in pending)
    return min(last + debounce, first + MAX_DEBOUNCE_FACTOR * debounce)
