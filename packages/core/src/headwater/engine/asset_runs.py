"""Runs of the ``assets`` pipeline: some assets, one partition key per run (materialize, backfill, automation)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from headwater.errors import UsageError
from headwater.executors.base import EncodedResult
from headwater.model.asset import AssetOperator
from headwater.model.context import DataInterval
from headwater.model.pipeline import ASSETS_PIPELINE_ID, Pipeline
from headwater.model.states import RunState

if TYPE_CHECKING:
    from headwater.config.settings import Project
    from headwater.engine.clock import Clock
    from headwater.engine.listener import RunListener, RunSummary
    from headwater.executors.base import JSON, Executor
    from headwater.loader.assets import AssetGraph
    from headwater.model.operator import Operator
    from headwater.model.partitions import PartitionsDefinition
    from headwater.store.assets import AssetWrites
    from headwater.store.records import RunRecord
    from headwater.store.repository import Store


@dataclass(frozen=True, slots=True)
class AssetSelection:
    """A checked selection for one run: asset keys in graph order, their shared partitions, the key."""

    keys: tuple[str, ...]
    partitions: PartitionsDefinition | None
    partition_key: str | None


def check_asset_run(graph: AssetGraph, asset_keys: Iterable[str], partition_key: str | None) -> AssetSelection:
    """Validate a run's selection before anything is written.

    Every key must be an asset of ``graph`` (DefinitionError with close matches), all must share one
    partitions definition (UsageError), and ``partition_key`` must be given exactly when they are
    partitioned and belong to the set (``check_key``'s DefinitionError otherwise).
    """
    keys = list(dict.fromkeys(asset_keys))
    if not keys:
        raise UsageError("no asset to materialize")
    definitions = [graph.get(k) for k in keys]
    partitions = definitions[0].partitions
    for definition in definitions[1:]:
        if definition.partitions != partitions:
            raise UsageError(
                f"assets '{definitions[0].key}' ({_describe(partitions)}) and '{definition.key}' "
                f"({_describe(definition.partitions)}) have different partitions: materialize them in separate runs"
            )
    if partitions is None:
        if partition_key is not None:
            raise UsageError(
                f"asset '{keys[0]}' is not partitioned: drop --partition {partition_key}"
                if len(keys) == 1
                else f"assets {', '.join(keys)} are not partitioned: drop --partition {partition_key}"
            )
        return AssetSelection(tuple(graph.sorted(keys)), None, None)
    if partition_key is None:
        raise UsageError(
            f"asset '{keys[0]}' is partitioned ({_describe(partitions)}): name a partition with --partition"
        )
    checked = partitions.check_key(partition_key)
    return AssetSelection(tuple(graph.sorted(keys)), partitions, checked)


def _describe(partitions: PartitionsDefinition | None) -> str:
    return "not partitioned" if partitions is None else partitions.describe()


def partition_interval(partitions: PartitionsDefinition | None, partition_key: str | None) -> DataInterval | None:
    """The data interval of a time partition (its window); None for static partitions or none."""
    if partitions is None or partition_key is None:
        return None
    window = partitions.window(partition_key)
    if window is None:
        return None
    return DataInterval(window.start.astimezone(UTC), window.end.astimezone(UTC))


def assets_run_id(partition_key: str | None, logical_date: datetime) -> str:
    """A new run id for an ``assets`` run (names the partition when there is one)."""
    from headwater.engine.run import new_run_id

    return new_run_id(ASSETS_PIPELINE_ID, logical_date, partition_key)


def asset_run_record(
    pipeline: Pipeline,
    selection: AssetSelection,
    *,
    trigger: str,
    now: float,
    run_id: str | None = None,
    lane: str = "default",
    backfill_id: str | None = None,
    executor_name: str = "",
    leased_by: str | None = None,
    lease_ttl: float = 0.0,
) -> RunRecord:
    """The RunRecord of a new ``assets`` run for ``selection`` (not yet stored)."""
    from headwater.store.records import RunRecord, to_datetime

    moment = datetime.fromtimestamp(now, UTC)
    interval = partition_interval(selection.partitions, selection.partition_key) or DataInterval(moment, moment)
    return RunRecord(
        run_id=run_id or assets_run_id(selection.partition_key, interval.start),
        pipeline_id=pipeline.id,
        pipeline_file=pipeline.file,
        state=RunState.QUEUED,
        logical_date=interval.start,
        interval_start=interval.start,
        interval_end=interval.end,
        params={},
        trigger=trigger,
        executor=executor_name,
        created_at=moment,
        lane=lane,
        backfill_id=backfill_id,
        lease_owner=leased_by,
        lease_epoch=1 if leased_by else 0,
        lease_expires_at=to_datetime(now + lease_ttl) if leased_by else None,
        partition_key=selection.partition_key,
    )


def queue_asset_run(
    store: Store,
    graph: AssetGraph,
    asset_keys: Iterable[str],
    partition_key: str | None,
    *,
    trigger: str,
    now: float,
    run_id: str | None = None,
    lane: str = "default",
    backfill_id: str | None = None,
    executor_name: str = "",
) -> RunRecord:
    """Store a queued, unleased run of the ``assets`` pipeline restricted to ``asset_keys`` (a scheduler takes it).

    ``now`` is epoch seconds. Validates the selection first (see :func:`check_asset_run`): nothing is
    written for a bad key or partition.
    """
    from headwater.engine.run import new_task_instances
    from headwater.loader.assets import asset_pipeline

    selection = check_asset_run(graph, asset_keys, partition_key)
    pipeline = asset_pipeline(graph, selection.keys)
    record = asset_run_record(
        pipeline,
        selection,
        trigger=trigger,
        now=now,
        run_id=run_id,
        lane=lane,
        backfill_id=backfill_id,
        executor_name=executor_name,
    )
    store.create_run(record, new_task_instances(pipeline, record.run_id))
    return record


def run_asset_now(
    project: Project,
    graph: AssetGraph,
    asset_keys: Iterable[str],
    partition_key: str | None,
    *,
    store: Store | None = None,
    executor: Executor | str | None = None,
    listener: RunListener | None = None,
    clock: Clock | None = None,
    trigger: str = "manual",
    run_id: str | None = None,
    params: Mapping[str, object] | None = None,
) -> RunSummary:
    """Create a run of ``asset_keys`` for ``partition_key`` and drive it to the end in this process."""
    from headwater.engine.launch import run_pipeline
    from headwater.loader.assets import asset_pipeline

    if params:
        raise UsageError("asset runs take no params")
    selection = check_asset_run(graph, asset_keys, partition_key)
    pipeline = asset_pipeline(graph, selection.keys)
    return run_pipeline(
        project,
        pipeline,
        store=store,
        executor=executor,
        listener=listener,
        clock=clock,
        partition_key=selection.partition_key,
        trigger=trigger,
        run_id=run_id,
    )


# -- inside a run: partitions, upstream values, recording ----------------------------------------


class AssetRunError(Exception):
    """An asset task cannot start (an upstream partition was never materialized, no partition): fail it, no retry."""


def pipeline_partitions(pipeline: Pipeline) -> list[PartitionsDefinition]:
    """The distinct partitions definitions of the pipeline's asset tasks."""
    found: list[PartitionsDefinition] = []
    for op in pipeline.tasks.values():
        if isinstance(op, AssetOperator) and op.asset.partitions is not None and op.asset.partitions not in found:
            found.append(op.asset.partitions)
    return found


def run_partition_interval(pipeline: Pipeline, partition_key: str) -> DataInterval | None:
    """Check ``partition_key`` against every partitioned asset of ``pipeline``; the window of the first time set.

    A pipeline without partitioned assets takes any key (a label for ``ctx.partition``): None.
    """
    interval = None
    for partitions in pipeline_partitions(pipeline):
        try:
            partitions.check_key(partition_key)
        except Exception as exc:
            from headwater.errors import DefinitionError

            if isinstance(exc, DefinitionError):
                raise UsageError(f"pipeline '{pipeline.id}': {exc.message}") from None
            raise
        if interval is None:
            interval = partition_interval(partitions, partition_key)
    return interval


def _gathers(
    down: PartitionsDefinition | None, key: str | None, up: PartitionsDefinition | None, mapped: list[str]
) -> bool:
    """True when the downstream receives ``{partition key: value}`` rather than one value."""
    if len(mapped) != 1:
        return True
    if up is None:
        return False
    if down is None or key is None:
        return True  # an unpartitioned asset reads every upstream partition
    if up.is_time_based and down.is_time_based:
        uw, dw = up.window(mapped[0]), down.window(key)
        if uw is not None and dw is not None:
            return (uw.end - uw.start) < (dw.end - dw.start)  # finer upstream partitions: several per window
    return False


def _in_order(partitions: PartitionsDefinition, keys: list[str]) -> list[str]:
    """``keys`` in the set's order: a static list's order, time keys by their window start."""
    from headwater.model.partitions import StaticPartitions

    if isinstance(partitions, StaticPartitions):
        index = {k: i for i, k in enumerate(partitions.partition_keys)}
        return sorted((k for k in keys if k in index), key=index.__getitem__)
    windows = {k: partitions.window(k) for k in keys if partitions.contains(k)}
    return sorted(windows, key=lambda k: windows[k].start)  # type: ignore[union-attr]


class RunAssets:
    """What one run engine knows about its asset tasks: their partitions, upstream values, pending records.

    Cheap for pipelines without assets: nothing is read until an asset task is evaluated.
    """

    def __init__(self, store: Store, pipeline: Pipeline, record: RunRecord, *, resumed: bool) -> None:
        from headwater.store.assets import AssetWrites

        self.store = store
        self.pipeline = pipeline
        self.record = record
        self.writes = AssetWrites()
        #: asset key -> the materialization this run recorded for it
        self.produced: dict[str, int] = {}
        #: task id -> upstream values loaded from the store (not produced in this run)
        self.inputs: dict[str, dict[str, EncodedResult]] = {}
        #: task id -> {upstream asset: newest materialization id} of the values loaded from the store
        self.used: dict[str, dict[str, int]] = {}
        self._partitions: dict[str, str | None] = {}
        if resumed:
            from headwater.store.assets import run_materializations

            self.produced = {k: m.id for k, m in run_materializations(store, record.run_id).items()}

    # -- partitions ------------------------------------------------------------------
    def partition_of(self, op: Operator) -> str | None:
        """``ctx.partition`` of ``op``'s task: the run's partition key, else for a partitioned asset the
        partition containing the run's interval start (scheduled runs of a pipeline with assets)."""
        key = self.record.partition_key
        if key is not None or not isinstance(op, AssetOperator) or op.asset.partitions is None:
            return key
        if op.task_id in self._partitions:
            return self._partitions[op.task_id]
        partitions = op.asset.partitions
        found = partitions.key_for(self.record.interval_start) if partitions.is_time_based else None
        if found is None:
            raise AssetRunError(
                f"asset '{op.asset.key}' is partitioned ({partitions.describe()}) and the run names no partition: "
                f"run it with --partition (e.g. `headwater materialize {op.asset.key} --partition KEY`)"
            )
        self._partitions[op.task_id] = found
        return found

    # -- before a task runs --------------------------------------------------------------
    def prepare(self, op: Operator) -> None:
        """Load the values of ``op``'s upstream assets that this run does not produce (raise AssetRunError)."""
        from headwater.model.asset import known_asset
        from headwater.model.partitions import AllPartitionMapping, upstream_keys
        from headwater.results import gather_results
        from headwater.store.assets import newest_ids, newest_materializations

        if not isinstance(op, AssetOperator):
            return
        definition = op.asset
        key = self.partition_of(op)
        own_key = key if definition.partitions is not None else None
        wanted: dict[str, tuple[list[str], bool]] = {}
        for dep in definition.deps:
            up_def = self.pipeline.asset_definitions.get(dep) or known_asset(dep)
            up_parts = up_def.partitions if up_def is not None else None
            # reading every partition of an upstream: the ones materialized so far (at least one)
            reads_all = up_parts is not None and (
                own_key is None or isinstance(definition.mapping_for(dep), AllPartitionMapping)
            )
            if up_def is None:
                mapped = [own_key or ""]
            elif reads_all:
                assert up_parts is not None
                mapped = _in_order(up_parts, [p for _, p in newest_ids(self.store, [dep])])
            else:
                keys = upstream_keys(
                    definition.partitions,
                    own_key,
                    up_parts,
                    definition.mapping_for(dep),
                    now=self.record.interval_end,
                )
                mapped = [""] if keys is None else keys
            in_run = dep in self.pipeline.tasks and isinstance(self.pipeline.tasks[dep], AssetOperator)
            if in_run and mapped == [own_key or ""]:
                continue  # produced by this run: its value comes with the run's results
            wanted[dep] = (mapped, up_parts is not None and _gathers(definition.partitions, own_key, up_parts, mapped))
        if not wanted:
            return
        found = newest_materializations(self.store, [(d, k) for d, (ks, _) in wanted.items() for k in ks])
        values: dict[str, EncodedResult] = {}
        used: dict[str, int] = {}
        for dep, (mapped, gather) in wanted.items():
            present = {k: found[(dep, k)] for k in mapped if (dep, k) in found}
            if present:
                used[dep] = max(m.id for m in present.values())
            if dep not in definition.value_params:
                continue  # ordering and lineage only: no value needed
            missing = [k for k in mapped if k not in present]
            if missing or not present:
                raise AssetRunError(_missing_message(dep, missing[0] if missing else None, len(missing)))
            parts = {k: m.result or EncodedResult("json", "null") for k, m in present.items()}
            values[dep] = gather_results(parts) if gather else next(iter(parts.values()))
        self.inputs[op.task_id] = values
        self.used[op.task_id] = used

    # -- after a try -------------------------------------------------------------------
    def succeeded(
        self, op: Operator, task_id: str, result: EncodedResult | None, metadata: Mapping[str, JSON] | None
    ) -> None:
        """Queue the materialization of an asset task and any lineage the task reported (written by the next commit)."""
        if metadata is None and not isinstance(op, AssetOperator):
            return  # the common case: a plain task that reported nothing
        rec = self.record
        reported = metadata or {}
        lineage = reported.get("lineage")
        if isinstance(lineage, dict):
            for direction in ("reads", "writes"):
                datasets = lineage.get(direction)
                if isinstance(datasets, list):
                    for dataset in datasets:
                        if isinstance(dataset, str) and dataset:
                            self.writes.lineage.append((rec.run_id, task_id, direction, dataset[:500], rec.pipeline_id))
        if not isinstance(op, AssetOperator) or op.task_id != task_id:
            return
        from headwater.store.assets import NewMaterialization

        definition = op.asset
        upstream = dict(self.used.get(task_id, {}))
        for dep in definition.deps:
            if dep in self.produced and dep not in upstream:
                upstream[dep] = self.produced[dep]
        meta = reported.get("materialization")
        self.writes.materializations.append(
            NewMaterialization(
                asset_key=definition.key,
                partition_key=(self.partition_of(op) or "") if definition.partitions is not None else "",
                run_id=rec.run_id,
                task_id=task_id,
                pipeline_id=rec.pipeline_id,
                code_version=definition.code_version,
                metadata=meta if isinstance(meta, dict) else {},
                result=result,
                upstream=upstream,
            )
        )

    def failed(self, op: Operator, task_id: str) -> None:
        """Queue the ``failed`` state of an asset task's partition (keeps its newest materialization)."""
        if not isinstance(op, AssetOperator) or op.task_id != task_id:
            return
        definition = op.asset
        try:
            key = (self.partition_of(op) or "") if definition.partitions is not None else ""
        except AssetRunError:
            return  # no partition to mark
        self.writes.failures.append((definition.key, key, self.record.run_id))

    def take_writes(self) -> AssetWrites | None:
        """The pending writes for the next commit (None if there are none)."""
        if not self.writes:
            return None
        from headwater.store.assets import AssetWrites

        writes, self.writes = self.writes, AssetWrites()
        return writes

    def committed(self, writes: AssetWrites) -> None:
        """After the commit: remember the ids of the materializations it recorded."""
        for m in writes.materializations:
            if m.id is not None:
                self.produced[m.asset_key] = m.id


def _missing_message(dep: str, partition: str | None, count: int) -> str:
    if partition is None:
        return (
            f"upstream asset '{dep}' has no partition for this one to read: "
            f"run `headwater materialize {dep}` for the partitions it needs"
        )
    if partition == "":
        return f"upstream asset '{dep}' has never been materialized: run `headwater materialize {dep}`"
    more = f" (and {count - 1} more of its partitions)" if count > 1 else ""
    return (
        f"upstream asset '{dep}' partition {partition} has never been materialized{more}: "
        f"run `headwater materialize {dep} --partition {partition}`"
    )


def run_subset(pipeline: Pipeline, store: Store, run_id: str) -> Pipeline:
    """The pipeline an existing run drives: for an ``assets`` run, only the assets it was created with.

    Other pipelines are returned as they are. Assets since removed from the project are left out.
    """
    if pipeline.id != ASSETS_PIPELINE_ID:
        return pipeline
    stored = {ti.task_id for ti in store.task_instances(run_id)}
    return pipeline.subset(stored & set(pipeline.tasks))
