"""AssetUpdated: new rows of ``hw_materializations`` (cursor: the newest id seen), one event per materialization."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import func, select

from headwater.config.settings import Project
from headwater.engine.events.sources import Emitter, Found, Payload, PollingSource, Subscription
from headwater.errors import DefinitionError
from headwater.model.triggers import AssetUpdated, Trigger
from headwater.store import tables as t
from headwater.store.repository import Store

#: At most this many materializations are read per trigger and poll (the rest on the next poll).
BATCH = 1000


def project_asset_keys(project: Project) -> set[str] | None:
    """The asset keys the project's pipelines define; None if the asset graph cannot be read."""
    try:
        from headwater.loader.assets import load_asset_graph
    except ImportError:  # pragma: no cover - assets are part of the core
        return None
    try:
        return set(load_asset_graph(project.pipelines_dir).assets)
    except DefinitionError:
        return None  # the graph's own error is reported where assets are loaded


def new_materializations(store: Store, keys: Collection[str], old_cursor: str | None) -> Found | None:
    """Materializations of ``keys`` after the cursor (a materialization id); None if there are none.

    With no cursor yet (the trigger is new), the newest id is the baseline: history does not fire.
    """
    m = t.materializations.c
    with store.engine.connect() as conn:
        if old_cursor is None:
            newest = conn.execute(select(func.max(m.id))).scalar()
            return str(newest or 0), []
        after = int(old_cursor)
        newest = conn.execute(select(func.max(m.id)).where(m.id > after)).scalar()
        if newest is None:
            return None
        rows = conn.execute(
            select(m.id, m.asset_key, m.partition_key, m.run_id, m.created_at)
            .where(m.id > after, m.asset_key.in_(list(keys)))
            .order_by(m.id)
            .limit(BATCH)
        ).all()
    if len(rows) == BATCH:
        newest = rows[-1].id  # the rest on the next poll
    payloads: list[Payload] = [
        {
            "asset": row.asset_key,
            "partition": row.partition_key or None,
            "materialization_id": int(row.id),
            "run_id": row.run_id,
            "created_at": _iso(row.created_at),
        }
        for row in rows
    ]
    return str(newest), payloads


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(timespec="seconds")


class AssetUpdatedSource(PollingSource):
    """Watches every AssetUpdated trigger by reading new materializations every poll interval."""

    kind = "asset"

    @classmethod
    def check(cls, trigger: Trigger, *, project: Project, asset_keys: Collection[str] | None) -> None:
        assert isinstance(trigger, AssetUpdated)
        if asset_keys is None:
            return
        unknown = [k for k in trigger.keys if k not in asset_keys]
        if unknown:
            known = ", ".join(sorted(asset_keys)[:20]) or "none"
            raise DefinitionError(
                f"trigger {trigger.describe()}: unknown asset(s) {', '.join(unknown)} (assets of the project: {known})"
            )

    def poll_one(self, subscription: Subscription, emit: Emitter) -> None:
        trigger = subscription.trigger
        assert isinstance(trigger, AssetUpdated)
        keys = trigger.keys
        emit.advance(subscription, lambda old: new_materializations(self.context.store, keys, old))
