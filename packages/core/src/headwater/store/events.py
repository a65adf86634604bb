"""Trigger events and cursors: stored before they can fire a run, linked to the run they fired."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from headwater.store import tables as t
from headwater.store.leases import lock_pipeline
from headwater.store.records import to_datetime
from headwater.store.repository import Store

if TYPE_CHECKING:
    from headwater.executors.base import JSON

#: A trigger check's finding: the trigger's new cursor and the payloads of the events to store with it.
Found = tuple[str, Sequence[Mapping[str, "JSON"]]]

#: The width of ``hw_events.trigger`` and ``hw_trigger_cursors.trigger``.
TRIGGER_KEY_LENGTH = 200


def trigger_key(description: str) -> str:
    """A trigger's description as stored: itself, or a prefix and a hash when it is too long."""
    if len(description) <= TRIGGER_KEY_LENGTH:
        return description
    digest = hashlib.sha1(description.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{description[: TRIGGER_KEY_LENGTH - 13]}~{digest}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """An event to store: which pipeline and trigger it is for, its kind and its payload."""

    pipeline_id: str
    trigger: str
    kind: str
    payload: Mapping[str, JSON]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRecord:
    """A stored event; ``run_id`` is the run it fired (None while pending)."""

    event_id: int
    pipeline_id: str
    trigger: str
    kind: str
    payload: JSON
    received_at: datetime
    state: str
    run_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingGroup:
    """The pending events of one trigger of one pipeline."""

    pipeline_id: str
    trigger: str
    count: int
    first_at: datetime
    last_at: datetime


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def insert_events(conn: Connection, events: Sequence[NewEvent], now: float) -> list[int]:
    """Insert ``events`` (pending) in the caller's transaction; return their ids in order."""
    received = to_datetime(now)
    ids: list[int] = []
    for event in events:
        row = {
            "pipeline_id": event.pipeline_id,
            "trigger": trigger_key(event.trigger),
            "kind": event.kind,
            "payload": json.dumps(dict(event.payload), default=str),
            "received_at": received,
            "state": "pending",
        }
        ids.append(int(conn.execute(insert(t.events).values(row).returning(t.events.c.event_id)).scalar_one()))
    return ids


def record_events(store: Store, events: Sequence[NewEvent], now: float) -> list[int]:
    """Store ``events`` in one committed transaction; return their ids."""
    with store.engine.begin() as conn:
        return insert_events(conn, events, now)


def read_cursor(conn: Connection, pipeline_id: str, trigger: str) -> str | None:
    c = t.trigger_cursors.c
    value = conn.execute(
        select(c.cursor).where(c.pipeline_id == pipeline_id, c.trigger == trigger_key(trigger))
    ).scalar()
    return None if value is None else str(value)


def write_cursor(conn: Connection, pipeline_id: str, trigger: str, cursor: str, now: float) -> None:
    c = t.trigger_cursors.c
    key = trigger_key(trigger)
    values = {"cursor": cursor, "updated_at": to_datetime(now)}
    done = conn.execute(update(t.trigger_cursors).where(c.pipeline_id == pipeline_id, c.trigger == key).values(values))
    if done.rowcount == 0:
        conn.execute(insert(t.trigger_cursors).values(pipeline_id=pipeline_id, trigger=key, **values))


def advance(
    store: Store,
    *,
    pipeline_id: str,
    pipeline_file: str | None,
    trigger: str,
    kind: str,
    check: Callable[[str | None], Found | None],
    now: float,
) -> list[int]:
    """Move a trigger's cursor and store the events found since it, exactly once across schedulers.

    ``check(cursor)`` returns None when nothing changed (nothing is written), else the
    new cursor and the payloads of the new events. A change is re-checked under the
    pipeline's lock before it is written, so two schedulers watching the same trigger
    store each event once.
    """
    with store.engine.connect() as conn:
        if check(read_cursor(conn, pipeline_id, trigger)) is None:
            return []
    with store.engine.begin() as conn:
        lock_pipeline(conn, pipeline_id, pipeline_file)
        found = check(read_cursor(conn, pipeline_id, trigger))
        if found is None:
            return []
        cursor, payloads = found
        events = [NewEvent(pipeline_id=pipeline_id, trigger=trigger, kind=kind, payload=p) for p in payloads]
        ids = insert_events(conn, events, now)
        write_cursor(conn, pipeline_id, trigger, cursor, now)
        return ids


def pending_groups(store: Store) -> list[PendingGroup]:
    """The pending events, grouped by pipeline and trigger."""
    e = t.events.c
    query = (
        select(e.pipeline_id, e.trigger, func.count(), func.min(e.received_at), func.max(e.received_at))
        .where(e.state == "pending")
        .group_by(e.pipeline_id, e.trigger)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        PendingGroup(pipeline_id=p, trigger=trig, count=int(n), first_at=_aware(first), last_at=_aware(last))
        for p, trig, n, first, last in rows
    ]


def pending_ids(conn: Connection, pipeline_id: str) -> list[int]:
    """The ids of a pipeline's pending events, oldest first (call under the pipeline's lock)."""
    e = t.events.c
    query = select(e.event_id).where(e.pipeline_id == pipeline_id, e.state == "pending").order_by(e.event_id)
    return [int(i) for i in conn.execute(query).scalars()]


def link_events(conn: Connection, event_ids: Sequence[int], run_id: str) -> None:
    """Mark ``event_ids`` fired by ``run_id`` (in the transaction that creates the run)."""
    e = t.events.c
    for start in range(0, len(event_ids), 500):
        chunk = list(event_ids[start : start + 500])
        conn.execute(
            update(t.events).where(e.event_id.in_(chunk), e.state == "pending").values(state="fired", run_id=run_id)
        )


def _record(row: RowMapping) -> EventRecord:
    try:
        payload: JSON = json.loads(str(row["payload"]))
    except ValueError:
        payload = str(row["payload"])
    received = row["received_at"]
    assert isinstance(received, datetime)
    return EventRecord(
        event_id=int(row["event_id"]),
        pipeline_id=str(row["pipeline_id"]),
        trigger=str(row["trigger"]),
        kind=str(row["kind"]),
        payload=payload,
        received_at=_aware(received),
        state=str(row["state"]),
        run_id=None if row["run_id"] is None else str(row["run_id"]),
    )


def events_of_runs(store: Store, run_ids: Sequence[str]) -> dict[str, list[EventRecord]]:
    """The events that fired each of ``run_ids``, oldest first (runs without events are absent)."""
    if not run_ids:
        return {}
    e = t.events.c
    query = select(t.events).where(e.run_id.in_(list(run_ids))).order_by(e.event_id)
    out: dict[str, list[EventRecord]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(query).mappings():
            record = _record(row)
            assert record.run_id is not None
            out.setdefault(record.run_id, []).append(record)
    return out


def list_events(store: Store, pipeline_id: str | None = None, *, state: str | None = None) -> list[EventRecord]:
    """Stored events (of one pipeline, in one state), oldest first."""
    e = t.events.c
    query = select(t.events).order_by(e.event_id)
    if pipeline_id is not None:
        query = query.where(e.pipeline_id == pipeline_id)
    if state is not None:
        query = query.where(e.state == state)
    with store.engine.connect() as conn:
        return [_record(row) for row in conn.execute(query).mappings()]
