"""Auto-materialization state (``hw_asset_automation``) and the reads the automation needs.

One row per asset partition (``partition_key`` "" when unpartitioned) remembers
the upstream state seen at the last evaluation, the pending change being
debounced (``changed_at`` = first change not acted on, ``last_change_at`` =
newest change), and the upstream state of the last run requested for it.

An *upstream state* is ``{upstream asset key: newest materialization id of the
partitions of it this partition reads}``: two materializations made from the
same upstream state are the same data, so nothing is requested twice for one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, cast, func, or_, select

from headwater.store import tables as t
from headwater.store.dialects import conflict_insert, utc
from headwater.store.repository import Store, _aware

#: ``{upstream asset key: newest materialization id used}``
UpstreamState = dict[str, int]
#: where the automation's change feed left off (a row of hw_trigger_cursors; "assets" is a reserved pipeline id)
CURSOR_PIPELINE, CURSOR_NAME = "assets", "auto-materialize"
#: ids per ``IN (...)`` list
CHUNK = 500

_auto = t.asset_automation
_mat = t.materializations


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomationState:
    """What the automation remembers about one asset partition."""

    asset_key: str
    partition_key: str = ""
    seen_state: UpstreamState | None = None
    changed_at: datetime | None = None
    last_change_at: datetime | None = None
    requested_state: UpstreamState | None = None
    requested_run_id: str | None = None
    requested_at: datetime | None = None

    @property
    def pending(self) -> bool:
        """An upstream change has been seen and not acted on yet."""
        return self.changed_at is not None

    def with_(self, **changes: object) -> AutomationState:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]


def encode_state(state: Mapping[str, int] | None) -> str | None:
    """The canonical text of an upstream state (sorted keys: equal states give equal text)."""
    return None if state is None else json.dumps(dict(state), sort_keys=True, separators=(",", ":"))


def decode_state(text: str | None) -> UpstreamState | None:
    """An upstream state from its text (None stays None; ids are ints)."""
    if not text:
        return None if text is None else {}
    raw = json.loads(text)
    if not isinstance(raw, dict):
        return {}
    return {str(k): int(v) for k, v in raw.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _state(row: Any) -> AutomationState:
    return AutomationState(
        asset_key=row.asset_key,
        partition_key=row.partition_key,
        seen_state=decode_state(row.seen_state),
        changed_at=_aware(row.changed_at),
        last_change_at=_aware(row.last_change_at),
        requested_state=decode_state(row.requested_state),
        requested_run_id=row.requested_run_id,
        requested_at=_aware(row.requested_at),
    )


def _pairs(items: Iterable[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    ordered = sorted(set(items))
    for i in range(0, len(ordered), CHUNK // 2):
        yield ordered[i : i + CHUNK // 2]


# -- automation rows ------------------------------------------------------------------------------
def load_states(store: Store, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], AutomationState]:
    """``(asset, partition) -> its row`` for these pairs (absent: never evaluated)."""
    out: dict[tuple[str, str], AutomationState] = {}
    a = _auto.c
    with store.engine.connect() as conn:
        for chunk in _pairs(pairs):
            query = select(_auto).where(or_(*(and_(a.asset_key == k, a.partition_key == p) for k, p in chunk)))
            for row in conn.execute(query):
                state = _state(row)
                out[(state.asset_key, state.partition_key)] = state
    return out


def pending_states(store: Store, asset_keys: Iterable[str]) -> list[AutomationState]:
    """The rows of these assets with an upstream change not acted on yet."""
    keys = sorted(set(asset_keys))
    out: list[AutomationState] = []
    a = _auto.c
    with store.engine.connect() as conn:
        for i in range(0, len(keys), CHUNK):
            query = select(_auto).where(a.asset_key.in_(keys[i : i + CHUNK]), a.changed_at.is_not(None))
            out += [_state(row) for row in conn.execute(query)]
    return out


def save_states(store: Store, states: Sequence[AutomationState]) -> None:
    """Insert or replace these rows (one transaction)."""
    if not states:
        return
    with store.engine.begin() as conn:
        for state in states:
            values = {
                "seen_state": encode_state(state.seen_state),
                "changed_at": utc(state.changed_at),
                "last_change_at": utc(state.last_change_at),
                "requested_state": encode_state(state.requested_state),
                "requested_run_id": state.requested_run_id,
                "requested_at": utc(state.requested_at),
            }
            stmt = conflict_insert(conn, _auto, what="auto-materialization").values(
                asset_key=state.asset_key, partition_key=state.partition_key, **values
            )
            stmt = stmt.on_conflict_do_update(index_elements=[_auto.c.asset_key, _auto.c.partition_key], set_=values)
            conn.execute(stmt)


# -- materializations -----------------------------------------------------------------------------
def newest_ids(store: Store, asset_key: str, partition_keys: Sequence[str] | None) -> dict[str, int]:
    """``partition -> newest materialization id`` of ``asset_key``, among ``partition_keys`` (None: all)."""
    m = _mat.c
    out: dict[str, int] = {}
    base = select(m.partition_key, func.max(m.id)).where(m.asset_key == asset_key).group_by(m.partition_key)
    with store.engine.connect() as conn:
        if partition_keys is None:
            chunks: list[Sequence[str] | None] = [None]
        else:
            keys = sorted(set(partition_keys))
            chunks = [keys[i : i + CHUNK] for i in range(0, len(keys), CHUNK)]
        for chunk in chunks:
            query = base if chunk is None else base.where(m.partition_key.in_(chunk))
            for partition_key, newest in conn.execute(query):
                out[str(partition_key)] = int(newest)
    return out


def materialized_states(store: Store, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], UpstreamState]:
    """``(asset, partition) -> the upstream state its newest materialization was made from``; absent: never."""
    m = _mat.c
    out: dict[tuple[str, str], UpstreamState] = {}
    with store.engine.connect() as conn:
        for chunk in _pairs(pairs):
            newest = (
                select(func.max(m.id).label("id"))
                .where(or_(*(and_(m.asset_key == k, m.partition_key == p) for k, p in chunk)))
                .group_by(m.asset_key, m.partition_key)
                .subquery()
            )
            query = select(m.asset_key, m.partition_key, m.upstream).join(newest, newest.c.id == m.id)
            for asset_key, partition_key, upstream in conn.execute(query):
                out[(str(asset_key), str(partition_key))] = decode_state(upstream or "{}") or {}
    return out


@dataclass(frozen=True, slots=True)
class MaterializationEvent:
    """One row of the change feed: an asset partition was materialized."""

    id: int
    asset_key: str
    partition_key: str


def materializations_after(store: Store, after: int, *, limit: int = 5000) -> list[MaterializationEvent]:
    """Materializations with an id above ``after``, oldest first (at most ``limit``)."""
    m = _mat.c
    query = select(m.id, m.asset_key, m.partition_key).where(m.id > after).order_by(m.id).limit(limit)
    with store.engine.connect() as conn:
        return [MaterializationEvent(int(i), str(a), str(p or "")) for i, a, p in conn.execute(query)]


def newest_materialization_id(store: Store) -> int:
    """The highest materialization id (0 when there is none)."""
    with store.engine.connect() as conn:
        value = conn.execute(select(func.max(_mat.c.id))).scalar()
    return int(value or 0)


def run_states(store: Store, run_ids: Iterable[str]) -> dict[str, str]:
    """``run_id -> state`` of these runs (absent: no such run)."""
    ids = sorted(set(run_ids))
    out: dict[str, str] = {}
    r = t.runs.c
    with store.engine.connect() as conn:
        for i in range(0, len(ids), CHUNK):
            for run_id, state in conn.execute(select(r.run_id, r.state).where(r.run_id.in_(ids[i : i + CHUNK]))):
                out[str(run_id)] = str(state)
    return out


# -- the feed's cursor ----------------------------------------------------------------------------
def read_cursor(store: Store) -> int | None:
    """The materialization id the automation has evaluated every change up to (None: never started)."""
    c = t.trigger_cursors.c
    query = select(c.cursor).where(c.pipeline_id == CURSOR_PIPELINE, c.trigger == CURSOR_NAME)
    with store.engine.connect() as conn:
        value = conn.execute(query).scalar()
    return None if value is None or not str(value).isdigit() else int(value)


def advance_cursor(store: Store, cursor: int, now: datetime) -> None:
    """Move the shared cursor forward to ``cursor`` (never back: several schedulers advance it)."""
    table = t.trigger_cursors
    values = {"cursor": str(cursor), "updated_at": utc(now)}
    with store.engine.begin() as conn:
        stmt = conflict_insert(conn, table, what="auto-materialization").values(
            pipeline_id=CURSOR_PIPELINE, trigger=CURSOR_NAME, **values
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.pipeline_id, table.c.trigger],
            set_=values,
            where=cast(table.c.cursor, Integer) < cursor,
        )
        conn.execute(stmt)


__all__ = [
    "AutomationState",
    "MaterializationEvent",
    "UpstreamState",
    "advance_cursor",
    "decode_state",
    "encode_state",
    "load_states",
    "materializations_after",
    "materialized_states",
    "newest_ids",
    "newest_materialization_id",
    "pending_states",
    "read_cursor",
    "run_states",
    "save_states",
]
