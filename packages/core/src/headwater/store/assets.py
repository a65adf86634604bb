"""Asset materializations, per-partition status and lineage: the writes of a run's commit and the reads others need.

Partition keys are ``""`` in the tables for unpartitioned assets; the functions here take and
return ``None`` for them as well as ``""``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, RowMapping, func, insert, select, tuple_

from headwater.executors.base import JSON, EncodedResult
from headwater.store import tables as t
from headwater.store.dialects import chunks, conflict_insert

if TYPE_CHECKING:
    from headwater.store.repository import Store

MATERIALIZED = "materialized"
FAILED = "failed"


def _key(partition: str | None) -> str:
    return partition or ""


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, slots=True)
class MaterializationRecord:
    """One successful materialization of an asset (partition)."""

    id: int
    asset_key: str
    partition_key: str  # "" when the asset is not partitioned
    run_id: str
    task_id: str
    pipeline_id: str
    created_at: datetime
    code_version: str | None
    metadata: dict[str, JSON]
    result: EncodedResult | None
    #: upstream asset key -> the newest materialization id of its mapped partitions this one used
    upstream: dict[str, int]


@dataclass(frozen=True, slots=True)
class PartitionState:
    """The latest known state of one asset partition."""

    asset_key: str
    partition_key: str
    state: str  # materialized | failed
    materialization_id: int | None  # the newest success (kept when a later attempt failed)
    run_id: str | None  # the run of the latest attempt
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LineageRecord:
    """A dataset a task reported reading or writing in one run."""

    run_id: str
    task_id: str
    direction: str  # reads | writes
    dataset: str
    pipeline_id: str
    created_at: datetime


@dataclass(slots=True)
class NewMaterialization:
    """A materialization to record; ``id`` is filled in when it is written."""

    asset_key: str
    partition_key: str
    run_id: str
    task_id: str
    pipeline_id: str
    code_version: str | None
    metadata: Mapping[str, JSON]
    result: EncodedResult | None
    upstream: Mapping[str, int]
    id: int | None = None


@dataclass(slots=True)
class AssetWrites:
    """What one group commit of the run engine records about assets (written by ``Store.write_batch``)."""

    materializations: list[NewMaterialization] = field(default_factory=list)
    #: (asset key, partition key, run id) of assets that failed for good
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    #: (run id, task id, direction, dataset, pipeline id)
    lineage: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.materializations or self.failures or self.lineage)

    def write(self, conn: Connection, now: float) -> None:
        """Insert the rows on ``conn`` (inside the caller's transaction); fills each materialization's id."""
        moment = datetime.fromtimestamp(now, UTC)
        for m in self.materializations:
            row = {
                "asset_key": m.asset_key,
                "partition_key": m.partition_key,
                "run_id": m.run_id,
                "task_id": m.task_id,
                "pipeline_id": m.pipeline_id,
                "created_at": moment,
                "code_version": m.code_version,
                "metadata": json.dumps(dict(m.metadata), default=str),
                "result_encoding": m.result.encoding if m.result is not None else None,
                "result_value": m.result.value if m.result is not None else None,
                "upstream": json.dumps(dict(m.upstream)),
            }
            inserted = conn.execute(insert(t.materializations).values(row)).inserted_primary_key
            assert inserted is not None
            m.id = int(inserted[0])
            _upsert_partition(conn, m.asset_key, m.partition_key, MATERIALIZED, m.run_id, moment, m.id)
        for asset_key, partition_key, run_id in self.failures:
            _upsert_partition(conn, asset_key, partition_key, FAILED, run_id, moment, None)
        if self.lineage:
            rows = [
                {"run_id": r, "task_id": k, "direction": d, "dataset": ds, "pipeline_id": p, "created_at": moment}
                for r, k, d, ds, p in dict.fromkeys(self.lineage)
            ]
            stmt = conflict_insert(conn, t.lineage).on_conflict_do_nothing()
            conn.execute(stmt, rows)


def _upsert_partition(
    conn: Connection,
    asset_key: str,
    partition_key: str,
    state: str,
    run_id: str,
    moment: datetime,
    materialization_id: int | None,
) -> None:
    values: dict[str, object] = {"state": state, "run_id": run_id, "updated_at": moment}
    if materialization_id is not None:
        values["materialization_id"] = materialization_id
    stmt = conflict_insert(conn, t.asset_partitions).values(
        asset_key=asset_key, partition_key=partition_key, **{"materialization_id": materialization_id, **values}
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.asset_partitions.c.asset_key, t.asset_partitions.c.partition_key], set_=values
    )
    conn.execute(stmt)


# -- reads ----------------------------------------------------------------------------------------


def _materialization(row: RowMapping) -> MaterializationRecord:
    encoding, value = row["result_encoding"], row["result_value"]
    return MaterializationRecord(
        id=int(row["id"]),
        asset_key=str(row["asset_key"]),
        partition_key=str(row["partition_key"] or ""),
        run_id=str(row["run_id"]),
        task_id=str(row["task_id"]),
        pipeline_id=str(row["pipeline_id"]),
        created_at=_aware(row["created_at"]),  # type: ignore[arg-type]
        code_version=row["code_version"],
        metadata=json.loads(str(row["metadata"] or "{}")),
        result=EncodedResult(str(encoding), str(value)) if encoding is not None and value is not None else None,
        upstream={k: int(v) for k, v in json.loads(str(row["upstream"] or "{}")).items()},
    )


def _partition_state(row: RowMapping) -> PartitionState:
    mid = row["materialization_id"]
    return PartitionState(
        asset_key=str(row["asset_key"]),
        partition_key=str(row["partition_key"] or ""),
        state=str(row["state"]),
        materialization_id=None if mid is None else int(mid),
        run_id=row["run_id"],
        updated_at=_aware(row["updated_at"]),  # type: ignore[arg-type]
    )


def materializations_by_id(store: Store, ids: Iterable[int]) -> dict[int, MaterializationRecord]:
    """The materializations with ``ids``."""
    wanted = sorted(set(ids))
    out: dict[int, MaterializationRecord] = {}
    with store.engine.connect() as conn:
        for chunk in chunks(wanted):
            query = select(t.materializations).where(t.materializations.c.id.in_(chunk))
            for row in conn.execute(query).mappings():
                record = _materialization(row)
                out[record.id] = record
    return out


def latest_materializations(store: Store, asset_keys: Iterable[str]) -> dict[str, MaterializationRecord]:
    """The newest materialization of each asset (over all its partitions); assets never materialized are absent."""
    keys = sorted(set(asset_keys))
    if not keys:
        return {}
    m = t.materializations
    ids: list[int] = []
    with store.engine.connect() as conn:
        for chunk in chunks(keys):
            query = select(func.max(m.c.id)).where(m.c.asset_key.in_(chunk)).group_by(m.c.asset_key)
            ids.extend(int(row[0]) for row in conn.execute(query))
    return {r.asset_key: r for r in materializations_by_id(store, ids).values()}


def partition_states(store: Store, asset_key: str) -> dict[str, PartitionState]:
    """``partition key -> PartitionState`` for every partition of ``asset_key`` ever attempted ("" if unpartitioned)."""
    query = select(t.asset_partitions).where(t.asset_partitions.c.asset_key == asset_key)
    with store.engine.connect() as conn:
        return {s.partition_key: s for s in (_partition_state(r) for r in conn.execute(query).mappings())}


def materialization_history(
    store: Store, asset_key: str, partition: str | None = None, *, limit: int = 20
) -> list[MaterializationRecord]:
    """The newest ``limit`` materializations of ``asset_key`` (of one partition if given), newest first."""
    m = t.materializations
    query = select(m).where(m.c.asset_key == asset_key).order_by(m.c.id.desc()).limit(limit)
    if partition is not None:
        query = query.where(m.c.partition_key == _key(partition))
    with store.engine.connect() as conn:
        return [_materialization(r) for r in conn.execute(query).mappings()]


def newest_ids(
    store: Store, asset_keys: Iterable[str], partitions: Collection[str | None] | None = None
) -> dict[tuple[str, str], int]:
    """``(asset key, partition key) -> newest successful materialization id`` (optionally of some partitions only).

    Partitions never materialized successfully are absent. Unpartitioned assets use partition key ``""``.
    """
    keys = sorted(set(asset_keys))
    p = t.asset_partitions
    out: dict[tuple[str, str], int] = {}
    wanted = None if partitions is None else sorted({_key(x) for x in partitions})
    with store.engine.connect() as conn:
        for chunk in chunks(keys):
            query = select(p.c.asset_key, p.c.partition_key, p.c.materialization_id).where(
                p.c.asset_key.in_(chunk), p.c.materialization_id.is_not(None)
            )
            if wanted is None:
                rows = list(conn.execute(query))
            else:
                rows = []
                for part in chunks(wanted):
                    rows.extend(conn.execute(query.where(p.c.partition_key.in_(part))))
            for asset_key, partition_key, mid in rows:
                out[(asset_key, partition_key or "")] = int(mid)
    return out


def newest_materializations(
    store: Store, pairs: Iterable[tuple[str, str | None]]
) -> dict[tuple[str, str], MaterializationRecord]:
    """The newest successful materialization of each ``(asset key, partition key)`` pair (absent if none)."""
    wanted = sorted({(a, _key(p)) for a, p in pairs})
    if not wanted:
        return {}
    p = t.asset_partitions
    ids: dict[tuple[str, str], int] = {}
    with store.engine.connect() as conn:
        for chunk in chunks(wanted):
            query = select(p.c.asset_key, p.c.partition_key, p.c.materialization_id).where(
                tuple_(p.c.asset_key, p.c.partition_key).in_(chunk), p.c.materialization_id.is_not(None)
            )
            for asset_key, partition_key, mid in conn.execute(query):
                ids[(asset_key, partition_key or "")] = int(mid)
    records = materializations_by_id(store, ids.values())
    return {pair: records[mid] for pair, mid in ids.items() if mid in records}


def run_materializations(store: Store, run_id: str) -> dict[str, MaterializationRecord]:
    """``asset key -> materialization`` recorded by run ``run_id``."""
    query = select(t.materializations).where(t.materializations.c.run_id == run_id)
    with store.engine.connect() as conn:
        return {r.asset_key: r for r in (_materialization(row) for row in conn.execute(query).mappings())}


def lineage(
    store: Store,
    *,
    dataset: str | None = None,
    task_id: str | None = None,
    pipeline_id: str | None = None,
    run_id: str | None = None,
    limit: int = 1000,
) -> list[LineageRecord]:
    """Reported reads and writes, newest first, filtered by dataset, task, pipeline and/or run."""
    lin = t.lineage
    query = select(lin).order_by(lin.c.created_at.desc(), lin.c.task_id, lin.c.dataset).limit(limit)
    if dataset is not None:
        query = query.where(lin.c.dataset == dataset)
    if task_id is not None:
        query = query.where(lin.c.task_id == task_id)
    if pipeline_id is not None:
        query = query.where(lin.c.pipeline_id == pipeline_id)
    if run_id is not None:
        query = query.where(lin.c.run_id == run_id)
    with store.engine.connect() as conn:
        return [
            LineageRecord(
                run_id=row["run_id"],
                task_id=row["task_id"],
                direction=row["direction"],
                dataset=row["dataset"],
                pipeline_id=row["pipeline_id"],
                created_at=_aware(row["created_at"]),  # type: ignore[arg-type]
            )
            for row in conn.execute(query).mappings()
        ]
