"""Per-partition status of an asset: missing, failed, stale or fresh, from what the store recorded.

- ``missing``: never attempted (no ``hw_asset_partitions`` row);
- ``failed``: the latest attempt failed (an older success may exist);
- ``stale``: materialized, but a mapped upstream partition has a newer materialization than the one this
  materialization used, or the asset's code version changed since;
- ``fresh``: materialized from the newest upstream state with the current code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headwater.loader.assets import AssetGraph
    from headwater.store.assets import MaterializationRecord, PartitionState
    from headwater.store.repository import Store

MISSING, FAILED, STALE, FRESH = "missing", "failed", "stale", "fresh"
STATUSES = (FRESH, STALE, FAILED, MISSING)


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    """One partition's status (``key`` None for an unpartitioned asset) and why it is stale."""

    key: str | None
    status: str
    materialization: MaterializationRecord | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AssetStatus:
    """Every partition of an asset (the ended ones, plus any attempted), in partition order."""

    asset_key: str
    partitions: list[PartitionStatus] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """``status -> number of partitions`` (every status present, zero if none)."""
        out = dict.fromkeys(STATUSES, 0)
        for p in self.partitions:
            out[p.status] += 1
        return out

    def of(self, key: str | None) -> PartitionStatus | None:
        for p in self.partitions:
            if p.key == key:
                return p
        return None


def _stored(key: str | None) -> str:
    return "" if key is None else key


def asset_status(store: Store | None, graph: AssetGraph, asset_key: str, *, now: datetime | None = None) -> AssetStatus:
    """The status of every partition of ``asset_key`` (``store`` None: nothing recorded yet, all missing)."""
    from headwater.engine.materialize import partition_position
    from headwater.store.assets import materializations_by_id, partition_states

    now = now or datetime.now(UTC)
    asset = graph.assets[asset_key]
    definition = asset.partitions
    states: dict[str, PartitionState] = {} if store is None else partition_states(store, asset_key)
    keys: list[str | None]
    if definition is None:
        keys = [None]
    else:
        known = definition.keys(now=now)
        listed = set(known)
        extra = [k for k in states if k not in listed and definition.contains(k)]
        keys = list(known)
        if extra:
            keys = sorted([*known, *extra], key=lambda k: partition_position(definition, k))
    ids = [s.materialization_id for s in states.values() if s.materialization_id is not None and s.state != FAILED]
    records = {} if store is None or not ids else materializations_by_id(store, ids)
    upstream_ids: dict[str, dict[str, int]] = {}
    if store is not None:
        for up in graph.upstream[asset_key]:
            upstream_ids[up] = {
                k: s.materialization_id for k, s in partition_states(store, up).items() if s.materialization_id
            }
    newest_all = {up: max(found.values(), default=0) for up, found in upstream_ids.items()}
    out: list[PartitionStatus] = []
    for key in keys:
        state = states.get(_stored(key))
        if state is None:
            out.append(PartitionStatus(key, MISSING))
            continue
        if state.state == FAILED:
            previous = records.get(state.materialization_id or -1)
            out.append(PartitionStatus(key, FAILED, previous))
            continue
        record = records.get(state.materialization_id or -1)
        if record is None:  # pragma: no cover - a materialized row always names its materialization
            out.append(PartitionStatus(key, MISSING))
            continue
        reasons = _stale_reasons(graph, asset_key, key, record, upstream_ids, newest_all, asset.code_version, now)
        out.append(PartitionStatus(key, STALE if reasons else FRESH, record, tuple(reasons)))
    return AssetStatus(asset_key, out)


def _stale_reasons(
    graph: AssetGraph,
    asset_key: str,
    key: str | None,
    record: MaterializationRecord,
    upstream_ids: Mapping[str, Mapping[str, int]],
    newest_all: Mapping[str, int],
    code_version: str,
    now: datetime,
) -> list[str]:
    from headwater.engine.materialize import upstream_pairs

    reasons: list[str] = []
    if record.code_version and code_version and record.code_version != code_version:
        reasons.append(f"code changed ({record.code_version} -> {code_version})")
    if not upstream_ids:
        return reasons
    definition = graph.assets[asset_key].partitions
    needed: dict[str, list[str]] = {}
    if definition is not None and key is not None:
        for up, partition in upstream_pairs(graph, (asset_key, key), now=now):
            needed.setdefault(up, []).append(_stored(partition))
    for up, found in upstream_ids.items():
        if up in needed:
            current = max((found[p] for p in needed[up] if p in found), default=0)
        else:
            current = newest_all.get(up, 0)  # unpartitioned: every upstream partition counts
        used = record.upstream.get(up)
        if current and (used is None or current > used):
            reasons.append(f"{up} has a newer materialization")
    return reasons


def status_of_keys(status: AssetStatus) -> tuple[Sequence[str], Mapping[str, str]]:
    """The partition keys in order and ``key -> status`` (for :func:`headwater.model.partitions.runs_of`)."""
    keys = [_stored(p.key) for p in status.partitions]
    return keys, {_stored(p.key): p.status for p in status.partitions}
