"""Auto-materialization: ``auto="eager"`` and ``auto="on_cron"`` assets get runs when their upstreams change.

The *upstream state* of an asset partition is ``{upstream asset: newest
materialization id of the upstream partitions it reads}``. Every
materialization records the state it was made from
(``hw_materializations.upstream``); a run is requested only when the current
state differs from that one and from the state of the last run requested for
the partition (``hw_asset_automation.requested_state``). The run's id is
derived from the state, so two schedulers (or a restart) can only ever create
it once, and nothing is materialized twice from the same upstream data.

``eager``: the scheduler follows new materializations (a change feed over
``hw_materializations`` ids). When an upstream partition of an eager asset is
materialized, the affected partitions (``downstream_keys``) become *pending*.
A pending partition is requested once no new upstream change arrived for the
asset's ``debounce`` (default 60 s), and at the latest ``5 x debounce`` after
its first change, so a burst of upstream updates gives one run. It waits while
one of its upstreams is itself an eager asset with a pending change or a run in
flight (that upstream is about to change again), and while the run it requested
before is still queued or running. An eager asset with no upstream assets is
never auto-materialized.

``on_cron``: at each tick of the asset's ``cron`` (else its freshness policy's
cron), the partition is requested if its upstream state changed since its last
materialization (or it was never materialized and every upstream has been). An
``on_cron`` asset without upstream assets is materialized at every tick.

A partition is requested only when every upstream partition it reads has been
materialized (otherwise the run could only fail). A requested run that fails is
not requested again for the same upstream state: the next upstream change (or
``headwater materialize``) materializes it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from headwater.store.automation import (
    AutomationState,
    UpstreamState,
    advance_cursor,
    encode_state,
    load_states,
    materializations_after,
    materialized_states,
    newest_ids,
    newest_materialization_id,
    pending_states,
    read_cursor,
    run_states,
    save_states,
)

if TYPE_CHECKING:
    from headwater.loader.assets import AssetGraph
    from headwater.model.asset import AssetDefinition
    from headwater.model.pipeline import Pipeline
    from headwater.model.timetable import Timetable
    from headwater.store.records import RunRecord
    from headwater.store.repository import Store

log = logging.getLogger("headwater.automation")

#: A pending change is acted on at the latest this many debounce periods after it was first seen.
MAX_DEBOUNCE_FACTOR = 5
ACTIVE_RUN_STATES = frozenset({"queued", "running"})
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

Pair = tuple[str, str]  # (asset key, partition key; "" when unpartitioned)
#: queue(asset_key, partition_key, run_id, now) -> the run, or None if a run with that id exists already
QueueRun = Callable[[str, str, str, float], "RunRecord | None"]


# -- pure decisions ---------------------------------------------------------------------------------


def auto_run_id(asset_key: str, partition_key: str, state: Mapping[str, int] | str) -> str:
    """The run id for materializing ``asset_key``'s partition from ``state`` (the same inputs, the same id).

    ``state`` is the upstream state, or a text (the cron tick of an ``on_cron`` asset without upstreams).
    """
    text = state if isinstance(state, str) else (encode_state(state) or "")
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    part = _UNSAFE.sub("_", partition_key) if partition_key else "all"
    return f"assets-auto-{asset_key}-{part}-{digest}"[:250]


def debounce_due(state: AutomationState, debounce: float) -> datetime | None:
    """When a pending change is acted on: ``debounce`` after the newest change, at most 5x after the first."""
    if state.changed_at is None:
        return None
    last = state.last_change_at or state.changed_at
    return min(last + timedelta(seconds=debounce), state.changed_at + timedelta(seconds=MAX_DEBOUNCE_FACTOR * debounce))


@dataclass(frozen=True, slots=True)
class Needed:
    """The partitions of one upstream asset that an asset partition reads.

    ``keys``: the upstream partition keys ("" for an unpartitioned upstream); ``value``: the asset
    receives the upstream's value (else it is an ordering-only ``deps`` entry); ``reads_all``: it
    reads every upstream partition (an unpartitioned asset, or ``AllPartitionMapping``).
    """

    keys: list[str]
    value: bool = True
    reads_all: bool = False


def state_of(needed: Mapping[str, Needed], newest: Mapping[str, Mapping[str, int]]) -> UpstreamState | None:
    """The upstream state a run would record, from the newest materialization ids of the upstream partitions.

    Mirrors what the engine records: ``{upstream: newest id among its needed partitions}`` for every
    upstream with at least one. None when the run could only fail: a value upstream with a needed
    partition never materialized (one reading every partition needs at least one).
    """
    state: UpstreamState = {}
    for upstream, need in needed.items():
        ids = newest.get(upstream, {})
        present = [ids[k] for k in need.keys if k in ids]
        if need.value and (not present or (not need.reads_all and len(present) < len(need.keys))):
            return None
        if present:
            state[upstream] = max(present)
    return state


def needs_run(
    current: UpstreamState | None,
    materialized: UpstreamState | None,
    row: AutomationState,
) -> bool:
    """Whether ``current`` is an upstream state nothing has materialized or requested yet."""
    if current is None:
        return False  # an upstream partition is missing: a run could only fail
    if materialized is not None and current == materialized:
        return False
    return current != row.requested_state


# -- partitions -------------------------------------------------------------------------------------


def _is_time_based(definition: object) -> bool:
    return bool(getattr(definition, "is_time_based", False))


def latest_key(asset: AssetDefinition, moment: datetime) -> str | None:
    """The newest partition of ``asset`` whose window has ended by ``moment`` (None: none yet)."""
    partitions = asset.partitions
    if partitions is None:
        return ""
    keys = partitions.keys(now=moment)
    return keys[-1] if keys else None


def current_keys(asset: AssetDefinition, moment: datetime) -> list[str]:
    """The partitions the automation looks at without a change to follow: the newest ended one (time
    partitions), every key (static partitions), or "" (unpartitioned)."""
    partitions = asset.partitions
    if partitions is None:
        return [""]
    if _is_time_based(partitions):
        key = latest_key(asset, moment)
        return [] if key is None else [key]
    return list(partitions.keys(now=moment))


def ready(asset: AssetDefinition, key: str, moment: datetime) -> bool:
    """A partition that exists and (time partitions) whose window has ended by ``moment``."""
    partitions = asset.partitions
    if partitions is None:
        return key == ""
    if not partitions.contains(key):
        return False
    window = partitions.window(key)
    return window is None or window.end <= moment


def affected_keys(
    graph: AssetGraph, upstream_key: str, partition_key: str, asset_key: str, moment: datetime
) -> list[str]:
    """The partitions of ``asset_key`` that read ``upstream_key``'s partition ``partition_key``.

    A change of an unpartitioned upstream affects the partitions the automation looks at
    without a change to follow (:func:`current_keys`), not every historical partition.
    """
    from headwater.model.partitions import downstream_keys

    upstream = graph.assets[upstream_key]
    asset = graph.assets[asset_key]
    if asset.partitions is None:
        return [""]
    if upstream.partitions is None:
        return current_keys(asset, moment)
    keys = downstream_keys(
        upstream.partitions, partition_key, asset.partitions, asset.mapping_for(upstream_key), now=moment
    )
    return [""] if keys is None else keys


def needed_partitions(graph: AssetGraph, asset_key: str, partition_key: str, moment: datetime) -> dict[str, Needed]:
    """What ``asset_key``'s partition reads of each upstream (the same mapping the engine uses)."""
    from headwater.model.partitions import AllPartitionMapping, upstream_keys

    asset = graph.assets[asset_key]
    own = partition_key if asset.partitions is not None else None
    out: dict[str, Needed] = {}
    for up in graph.upstream.get(asset_key, ()):
        up_parts = graph.assets[up].partitions
        mapping = asset.mapping_for(up)
        keys = upstream_keys(asset.partitions, own, up_parts, mapping, now=moment)
        reads_all = up_parts is not None and (own is None or isinstance(mapping, AllPartitionMapping))
        out[up] = Needed([""] if keys is None else keys, up in asset.value_params, reads_all)
    return out


def cron_timetable(asset: AssetDefinition) -> Timetable | None:
    """The timetable of ``asset``'s automation cron, in the freshness policy's (else the partitions') timezone."""
    expr = asset.effective_cron
    if expr is None:
        return None
    from headwater.model.schedule import cron_expression, parse_timezone
    from headwater.model.timetable import Timetable

    zone = getattr(asset.freshness, "timezone", None) or getattr(asset.partitions, "timezone", None) or "UTC"
    tz = zone if not isinstance(zone, str) else parse_timezone(zone)
    return Timetable(cron_expression(expr), tz)


def last_tick(timetable: Timetable, moment: datetime) -> datetime | None:
    """The newest tick at or before ``moment``."""
    latest = timetable.latest_complete(moment)
    return None if latest is None else latest.end


def next_tick(timetable: Timetable, moment: datetime) -> datetime | None:
    """The first tick after ``moment``."""
    for tick in timetable.ticks(moment):
        if tick > moment:
            return tick
    return None


# -- the scheduler's side ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AutoRequest:
    """A run the automation requested (or found requested already by another scheduler)."""

    asset_key: str
    partition_key: str
    run_id: str
    state: UpstreamState | None
    created: bool


class AutoMaterializer:
    """Requests runs for the project's ``auto`` assets; call :meth:`check` from every scheduler pass.

    ``queue`` creates a queued run of one asset partition with the given id and returns it,
    or None when a run with that id exists (by default H2's ``queue_asset_run``, trigger ``auto``).
    ``recheck``: how often pending rows are re-read from the store (other schedulers write them
    too) and waiting partitions looked at again. ``gap_timeout``: how long a hole in the
    materialization ids (a transaction still committing, on PostgreSQL) holds the feed's cursor back.
    """

    def __init__(
        self,
        store: Store,
        *,
        queue: QueueRun | None = None,
        executor_name: str = "",
        recheck: float = 30.0,
        gap_timeout: float = 60.0,
        feed_limit: int = 5000,
    ) -> None:
        self.store = store
        self.executor_name = executor_name
        self.recheck = recheck
        self.gap_timeout = gap_timeout
        self.feed_limit = feed_limit
        self._queue = queue
        self._pipeline: Pipeline | None = None
        self._graph: AssetGraph | None = None
        self._cursor: int | None = None
        self._saved_cursor: int | None = None
        self._seen: set[int] = set()
        self._gaps: dict[int, float] = {}
        self._pending: dict[Pair, AutomationState] = {}
        self._retry_at: dict[Pair, float] = {}  # due partitions waiting for a run in flight: next look
        self._next_refresh = 0.0
        self._cron_done: dict[str, datetime | None] = {}
        self._cron_next: dict[str, float | None] = {}
        self._more = False  # the feed returned a full page: look again at once
        self._timetables: dict[str, Timetable | None] = {}
        self.requests: list[AutoRequest] = []  # every request this instance made (newest last)

    # -- one pass -----------------------------------------------------------------------------
    def check(self, graph: AssetGraph | None, now: float, *, pipeline: Pipeline | None = None) -> float | None:
        """Follow new materializations, request the runs that are due; return when to look next (epoch s).

        ``pipeline``: the ``assets`` pipeline runs are created for (default: the graph's).
        None: nothing will become due by time alone.
        """
        self._pipeline = pipeline
        if graph is None or not any(a.auto is not None for a in graph.assets.values()):
            self._graph = graph
            return None
        moment = datetime.fromtimestamp(now, UTC)
        eager = {k for k, a in graph.assets.items() if a.auto == "eager" and graph.upstream.get(k)}
        candidates: set[Pair] = set()
        if graph is not self._graph:
            self._graph = graph
            self._timetables = {}
            self._cron_next = {}
            self._next_refresh = 0.0
            for key in eager:  # a new or changed graph: look at every eager asset once
                candidates.update((key, p) for p in current_keys(graph.assets[key], moment))
        if eager:
            candidates |= self._follow_feed(graph, eager, moment, now)
        if eager and (now >= self._next_refresh or candidates):
            self._pending = {(s.asset_key, s.partition_key): s for s in pending_states(self.store, eager)}
            self._next_refresh = now + self.recheck
        if candidates:
            self._observe(graph, candidates, moment)
            for pair in candidates:
                self._retry_at.pop(pair, None)  # something changed: a waiting partition is looked at again
        wake: list[float] = []
        if eager:
            wake += self._act_on_due(graph, moment, now)
        wake += self._on_cron(graph, moment)
        if self._more:
            wake.append(now)
        return min(wake) if wake else None

    # -- eager ----------------------------------------------------------------------------------
    def _follow_feed(self, graph: AssetGraph, eager: set[str], moment: datetime, now: float) -> set[Pair]:
        """The eager asset partitions whose upstreams (or themselves) were materialized since the last pass."""
        if self._cursor is None:
            saved = read_cursor(self.store)
            self._cursor = saved if saved is not None else newest_materialization_id(self.store)
            self._saved_cursor = saved
        found: set[Pair] = set()
        events = materializations_after(self.store, self._cursor, limit=self.feed_limit)
        fresh = [event for event in events if event.id not in self._seen]
        self._more = len(events) >= self.feed_limit and bool(fresh)  # a full page with news: read on at once
        for event in fresh:
            self._seen.add(event.id)
            if event.asset_key not in graph.assets:
                continue
            if event.asset_key in eager:
                found.add((event.asset_key, event.partition_key))  # its own pending change may be settled
            for down in graph.downstream.get(event.asset_key, ()):
                if down in eager:
                    for key in affected_keys(graph, event.asset_key, event.partition_key, down, moment):
                        if ready(graph.assets[down], key, moment):
                            found.add((down, key))
        self._advance(now, moment)
        return found

    def _advance(self, now: float, moment: datetime) -> None:
        """Move the cursor over every id seen, and over holes older than ``gap_timeout``."""
        assert self._cursor is not None
        if self._seen:
            top = max(self._seen)
            for missing in range(self._cursor + 1, top):
                if missing not in self._seen:
                    self._gaps.setdefault(missing, now)
        while True:
            nxt = self._cursor + 1
            if nxt in self._seen:
                self._seen.discard(nxt)
            elif nxt in self._gaps and now - self._gaps[nxt] >= self.gap_timeout:
                del self._gaps[nxt]
            else:
                break
            self._cursor = nxt
        if self._saved_cursor is None or self._cursor > self._saved_cursor:
            advance_cursor(self.store, self._cursor, moment)
            self._saved_cursor = self._cursor

    def _current(self, graph: AssetGraph, pairs: Iterable[Pair], moment: datetime) -> dict[Pair, UpstreamState | None]:
        """The upstream state of each pair (None: a needed upstream partition was never materialized)."""
        needed = {pair: needed_partitions(graph, pair[0], pair[1], moment) for pair in pairs}
        wanted: dict[str, set[str]] = {}
        for per_upstream in needed.values():
            for up, need in per_upstream.items():
                wanted.setdefault(up, set()).update(need.keys)
        newest = {up: newest_ids(self.store, up, sorted(keys)) for up, keys in wanted.items()}
        return {pair: state_of(per_upstream, newest) for pair, per_upstream in needed.items()}

    def _observe(self, graph: AssetGraph, candidates: set[Pair], moment: datetime) -> None:
        """Record upstream changes of ``candidates``: start or extend their debounce, or settle them."""
        current = self._current(graph, candidates, moment)
        rows = load_states(self.store, candidates)
        materialized = materialized_states(self.store, candidates)
        changed: list[AutomationState] = []
        for pair in sorted(candidates):
            row = rows.get(pair) or AutomationState(asset_key=pair[0], partition_key=pair[1])
            state = current[pair]
            if not needs_run(state, materialized.get(pair), row):
                if row.pending or row.seen_state != state:  # up to date, requested already, or waiting
                    changed.append(row.with_(seen_state=state, changed_at=None, last_change_at=None))
            elif state != row.seen_state or not row.pending:
                changed.append(row.with_(seen_state=state, changed_at=row.changed_at or moment, last_change_at=moment))
        save_states(self.store, changed)
        for row in changed:
            pair = (row.asset_key, row.partition_key)
            if row.pending:
                self._pending[pair] = row
            else:
                self._pending.pop(pair, None)

    def _blocked_by_upstream(
        self,
        graph: AssetGraph,
        pair: Pair,
        upstream_rows: Mapping[Pair, AutomationState],
        active: Mapping[str, str],
        moment: datetime,
    ) -> bool:
        """An eager upstream partition of ``pair`` will change again soon (a pending change or a run in flight)."""
        asset_key, partition_key = pair
        for up, need in needed_partitions(graph, asset_key, partition_key, moment).items():
            if graph.assets[up].auto != "eager":
                continue
            for key in need.keys:
                if (up, key) in self._pending:
                    return True
                row = upstream_rows.get((up, key))
                if row is not None and row.requested_run_id and active.get(row.requested_run_id) in ACTIVE_RUN_STATES:
                    return True
        return False

    def _act_on_due(self, graph: AssetGraph, moment: datetime, now: float) -> list[float]:
        """Request the pending partitions whose debounce has passed; return when the others are due."""
        wake: list[float] = []
        due: list[Pair] = []
        for pair, row in self._pending.items():
            asset = graph.assets.get(pair[0])
            if asset is None or asset.auto != "eager":
                continue
            at = debounce_due(row, asset.debounce)
            if at is None:
                continue
            retry = self._retry_at.get(pair)
            if retry is not None and retry > now:
                wake.append(retry)  # waiting for a run in flight: looked at again then, or on news
            elif at <= moment:
                due.append(pair)
            else:
                wake.append(at.timestamp())
        if not due:
            return wake
        # Look again, fresh from the store: another scheduler may have acted, or an upstream changed.
        rows = load_states(self.store, due)
        materialized = materialized_states(self.store, due)
        current = self._current(graph, due, moment)
        upstream_rows = self._upstream_requests(graph, due, moment)
        active = run_states(
            self.store,
            [r.requested_run_id for r in [*rows.values(), *upstream_rows.values()] if r.requested_run_id],
        )
        settled: list[AutomationState] = []
        waiting = False
        rank = {key: i for i, key in enumerate(graph.order)}
        for pair in sorted(due, key=lambda p: (rank[p[0]], p[1])):
            row = rows.get(pair) or AutomationState(asset_key=pair[0], partition_key=pair[1])
            state = current[pair]
            if not row.pending:
                self._pending.pop(pair, None)
                continue
            if not needs_run(state, materialized.get(pair), row):
                settled.append(row.with_(seen_state=state, changed_at=None, last_change_at=None))
                continue
            in_flight = row.requested_run_id is not None and active.get(row.requested_run_id) in ACTIVE_RUN_STATES
            if in_flight or self._blocked_by_upstream(graph, pair, upstream_rows, active, moment):
                self._retry_at[pair] = now + self.recheck  # or sooner, when a materialization arrives
                waiting = True
                continue
            assert state is not None
            request = self._request(graph, pair, state, now)
            if request is None:
                self._retry_at[pair] = now + self.recheck
                waiting = True
                continue
            settled.append(
                row.with_(
                    seen_state=state,
                    changed_at=None,
                    last_change_at=None,
                    requested_state=state,
                    requested_run_id=request.run_id,
                    requested_at=moment,
                )
            )
        save_states(self.store, settled)
        for row in settled:
            self._pending.pop((row.asset_key, row.partition_key), None)
            self._retry_at.pop((row.asset_key, row.partition_key), None)
        if waiting:
            wake.append(now + self.recheck)
        return wake

    def _upstream_requests(
        self, graph: AssetGraph, pairs: Iterable[Pair], moment: datetime
    ) -> dict[Pair, AutomationState]:
        """The automation rows of the eager upstream partitions of ``pairs`` (to see their runs in flight)."""
        wanted: set[Pair] = set()
        for asset_key, partition_key in pairs:
            for up, need in needed_partitions(graph, asset_key, partition_key, moment).items():
                if graph.assets[up].auto == "eager":
                    wanted.update((up, k) for k in need.keys)
        return load_states(self.store, wanted) if wanted else {}

    # -- on_cron --------------------------------------------------------------------------------
    def _on_cron(self, graph: AssetGraph, moment: datetime) -> list[float]:
        """At each cron tick, request the ``on_cron`` partitions whose upstream state changed."""
        wake: list[float] = []
        now = moment.timestamp()
        for key, asset in graph.assets.items():
            if asset.auto != "on_cron":
                continue
            if key not in self._timetables:
                self._timetables[key] = cron_timetable(asset)
            timetable = self._timetables[key]
            if timetable is None:
                continue
            upcoming = self._cron_next.get(key)
            if key in self._cron_done and upcoming is not None and now < upcoming:
                wake.append(upcoming)  # no tick since the last look
                continue
            tick = last_tick(timetable, moment)
            following = next_tick(timetable, moment)
            self._cron_next[key] = following.timestamp() if following is not None else None
            if following is not None:
                wake.append(following.timestamp())
            if tick is None or (key in self._cron_done and self._cron_done[key] == tick):
                continue
            self._cron_tick(graph, key, tick, now)
            self._cron_done[key] = tick
        return wake

    def _cron_tick(self, graph: AssetGraph, key: str, tick: datetime, now: float) -> None:
        asset = graph.assets[key]
        pairs = [(key, p) for p in current_keys(asset, tick)]
        if not pairs:
            return
        rows = load_states(self.store, pairs)
        if not graph.upstream.get(key):
            stamp = tick.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
            saved = []
            for pair in pairs:
                request = self._request(graph, pair, None, now, run_id=auto_run_id(key, pair[1], f"tick:{stamp}"))
                if request is not None:
                    row = rows.get(pair) or AutomationState(asset_key=pair[0], partition_key=pair[1])
                    saved.append(
                        row.with_(requested_run_id=request.run_id, requested_at=datetime.fromtimestamp(now, UTC))
                    )
            save_states(self.store, saved)
            return
        current = self._current(graph, pairs, tick)
        materialized = materialized_states(self.store, pairs)
        active = run_states(self.store, [r.requested_run_id for r in rows.values() if r.requested_run_id])
        saved = []
        for pair in pairs:
            row = rows.get(pair) or AutomationState(asset_key=pair[0], partition_key=pair[1])
            state = current[pair]
            if not needs_run(state, materialized.get(pair), row):
                continue
            if row.requested_run_id is not None and active.get(row.requested_run_id) in ACTIVE_RUN_STATES:
                continue  # the previous tick's run is still going: the next tick looks again
            assert state is not None
            request = self._request(graph, pair, state, now)
            if request is not None:
                saved.append(
                    row.with_(
                        seen_state=state,
                        requested_state=state,
                        requested_run_id=request.run_id,
                        requested_at=datetime.fromtimestamp(now, UTC),
                    )
                )
        save_states(self.store, saved)

    # -- requesting -----------------------------------------------------------------------------
    def _request(
        self, graph: AssetGraph, pair: Pair, state: UpstreamState | None, now: float, *, run_id: str | None = None
    ) -> AutoRequest | None:
        """Create the run for ``pair`` (exactly once per id across schedulers); None if it could not be queued."""
        asset_key, partition_key = pair
        run_id = run_id or auto_run_id(asset_key, partition_key, state or {})
        try:
            queue = self._queue or self._default_queue(graph)
            record = queue(asset_key, partition_key, run_id, now)
        except Exception:
            log.exception("could not queue the automatic run of asset %s %s", asset_key, partition_key or "")
            return None
        request = AutoRequest(asset_key, partition_key, run_id, state, record is not None)
        self.requests.append(request)
        if record is not None:
            log.info(
                "auto-materializing asset %s%s: run %s",
                asset_key,
                f" partition {partition_key}" if partition_key else "",
                run_id,
            )
        return request

    def _default_queue(self, graph: AssetGraph) -> QueueRun:
        from headwater.engine.asset_runs import asset_run_record, check_asset_run
        from headwater.engine.run import new_task_instances
        from headwater.loader.assets import asset_pipeline
        from headwater.store.leases import insert_run_if_absent

        full = self._pipeline or asset_pipeline(graph)

        def queue(asset_key: str, partition_key: str, run_id: str, now: float) -> RunRecord | None:
            selection = check_asset_run(graph, [asset_key], partition_key or None)
            pipeline = full.subset(selection.keys)
            record = asset_run_record(
                pipeline, selection, trigger="auto", now=now, run_id=run_id, executor_name=self.executor_name
            )
            with self.store.engine.begin() as conn:  # exactly once per run id, across schedulers
                created = insert_run_if_absent(conn, record, new_task_instances(pipeline, record.run_id))
            return record if created else None

        return queue


__all__ = [
    "MAX_DEBOUNCE_FACTOR",
    "AutoMaterializer",
    "AutoRequest",
    "affected_keys",
    "auto_run_id",
    "current_keys",
    "debounce_due",
    "needed_partitions",
    "needs_run",
    "state_of",
]
