"""Materialize assets: plan the (asset, partition) pairs, group them into runs, run them in dependency waves.

The plan starts from the requested pairs and adds, recursively, every upstream
partition that is missing (never materialized, or its latest attempt failed),
following each asset's partition mappings. Pairs are grouped into runs: one run
per partitions definition and partition key, holding the assets of that group in
graph order. A run that needs a pair planned in another group waits for it: it
belongs to a later wave (a monthly rollup runs after the daily runs it reads).
Runs of one wave are independent and run in parallel; a failed run stops the
later waves from starting.
"""

from __future__ import annotations

import difflib
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from headwater.errors import UsageError

if TYPE_CHECKING:
    from headwater.config.settings import Project
    from headwater.engine.listener import RunSummary
    from headwater.loader.assets import AssetGraph
    from headwater.model.partitions import PartitionsDefinition
    from headwater.store.repository import Store

STRATEGIES = ("oldest-first", "newest-first", "random")
#: A plan with more runs than this is refused (split the request): every pair is planned up front.
MAX_RUNS = 100_000
#: Partition states (``hw_asset_partitions.state``) that count as present; anything else is missing.
MATERIALIZED = "materialized"

Pair = tuple[str, str | None]  # (asset key, partition key or None when the asset is unpartitioned)
#: ``states(asset_key)`` -> {partition key ("" when unpartitioned): state}: what the store knows.
StateReader = Callable[[str], Mapping[str, str]]


def no_states(asset_key: str) -> Mapping[str, str]:
    """The state reader of an empty store: nothing has been materialized."""
    return {}


def store_states(store: Store) -> StateReader:
    """A state reader over ``store`` (each asset read once)."""
    from headwater.store.assets import partition_states

    cache: dict[str, dict[str, str]] = {}

    def states(asset_key: str) -> Mapping[str, str]:
        found = cache.get(asset_key)
        if found is None:
            found = {key: str(_state_name(value)) for key, value in partition_states(store, asset_key).items()}
            cache[asset_key] = found
        return found

    return states


def _state_name(value: object) -> object:
    return getattr(value, "state", value)


def _stored_key(partition: str | None) -> str:
    return "" if partition is None else partition


# -- validating a request ------------------------------------------------------------------------


def close_matches(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'a', 'b'?)`` or ``""``."""
    found = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(f) for f in found)}?)" if found else ""


def check_asset_keys(graph: AssetGraph, keys: Sequence[str]) -> None:
    """UsageError naming the first unknown asset key, with close matches."""
    for key in keys:
        if key not in graph.assets:
            known = sorted(graph.assets)
            listing = f"; known assets: {', '.join(known[:20])}{' ...' if len(known) > 20 else ''}" if known else ""
            raise UsageError(f"unknown asset '{key}'{close_matches(key, known)}{listing}")


def describe_partitions(definition: PartitionsDefinition | None) -> str:
    return "unpartitioned" if definition is None else definition.describe()


def resolve_requests(graph: AssetGraph, asset_keys: Sequence[str], partitions: Sequence[str]) -> list[Pair]:
    """The (asset, partition) pairs ``materialize ASSET... --partition P...`` asks for (UsageError if wrong).

    Every partition applies to every requested asset, so the assets must all be partitioned (then each key is
    checked against each asset's partitions) or all unpartitioned (then no ``--partition`` is allowed).
    """
    if not asset_keys:
        raise UsageError("name at least one asset to materialize")
    check_asset_keys(graph, asset_keys)
    pairs: list[Pair] = []
    seen: set[Pair] = set()
    for key in dict.fromkeys(asset_keys):
        definition = graph.assets[key].partitions
        if definition is None:
            if partitions:
                raise UsageError(
                    f"asset '{key}' is not partitioned: materialize it without --partition "
                    "(in a command of its own when the other assets need partitions)"
                )
            wanted: list[str | None] = [None]
        else:
            if not partitions:
                hint = _newest_key_hint(definition)
                raise UsageError(
                    f"asset '{key}' is partitioned ({definition.describe()}): "
                    f"name the partition(s) to materialize with --partition{hint}"
                )
            wanted = []
            for text in partitions:
                wanted.extend(expand_partition(definition, text, what=f"asset '{key}'"))
        for partition in wanted:
            pair = (key, partition)
            if pair not in seen:
                seen.add(pair)
                pairs.append(pair)
    return pairs


def _newest_key_hint(definition: PartitionsDefinition) -> str:
    keys = definition.keys()
    return f", e.g. --partition {keys[-1]}" if keys else ""


def expand_partition(definition: PartitionsDefinition, text: str, *, what: str) -> list[str]:
    """``P`` or an inclusive range ``FIRST..LAST`` as checked partition keys of ``definition``."""
    from headwater.errors import DefinitionError

    first, sep, last = text.partition("..")
    try:
        if sep:
            if not first or not last:
                raise UsageError(f"--partition {text!r}: a range is FIRST..LAST, e.g. 2026-03-01..2026-03-31")
            keys = definition.keys_between(definition.check_key(first), definition.check_key(last))
            if not keys:
                raise UsageError(f"--partition {text!r}: {last} comes before {first} in {definition.describe()}")
            return keys
        return [definition.check_key(text)]
    except DefinitionError as exc:
        raise UsageError(f"--partition for {what}: {exc.message}") from None


# -- planning ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedRun:
    """One run of the plan: some assets of one partition (of one partitions definition)."""

    wave: int  # runs of wave n start once every run of the waves before it succeeded
    partition_key: str | None
    partitions: PartitionsDefinition | None
    assets: tuple[str, ...]  # in graph order
    requested: tuple[str, ...]  # those that were asked for; the others are missing upstream partitions

    @property
    def upstream(self) -> tuple[str, ...]:
        """The assets added because their partition was missing."""
        return tuple(a for a in self.assets if a not in self.requested)

    @property
    def label(self) -> str:
        return "unpartitioned" if self.partition_key is None else self.partition_key


@dataclass(frozen=True, slots=True, kw_only=True)
class MaterializePlan:
    """What a materialization (or an asset backfill) will run, in waves."""

    requested: list[Pair]
    runs: list[PlannedRun]  # wave by wave, each wave in its strategy's order
    skipped: list[Pair] = field(default_factory=list)  # requested pairs already materialized (skip_existing)
    strategy: str = "oldest-first"

    @property
    def waves(self) -> int:
        return 1 + max((r.wave for r in self.runs), default=-1)

    def wave(self, n: int) -> list[PlannedRun]:
        return [r for r in self.runs if r.wave == n]

    @property
    def added(self) -> list[Pair]:
        """Upstream pairs the plan adds because they are missing."""
        return [(a, r.partition_key) for r in self.runs for a in r.upstream]

    @property
    def pairs(self) -> int:
        return sum(len(r.assets) for r in self.runs)


@dataclass(slots=True)
class _Node:
    pair: Pair
    group: int
    ups: list[Pair] = field(default_factory=list)  # planned upstream pairs
    level: int = 0


def upstream_pairs(graph: AssetGraph, pair: Pair, *, now: datetime | None = None) -> list[Pair]:
    """The (upstream asset, partition) pairs ``pair`` reads, through each dependency's partition mapping."""
    from headwater.model.partitions import upstream_keys

    key, partition = pair
    asset = graph.assets[key]
    mappings = asset.partition_mappings or {}
    found: list[Pair] = []
    for up in graph.upstream[key]:
        keys = upstream_keys(asset.partitions, partition, graph.assets[up].partitions, mappings.get(up), now=now)
        if keys is None:
            found.append((up, None))
        else:
            found.extend((up, k) for k in keys)
    return found


def plan_materialization(
    graph: AssetGraph,
    requests: Sequence[Pair],
    *,
    states: StateReader = no_states,
    upstream: bool = True,
    skip_existing: bool = False,
    strategy: str = "oldest-first",
    seed: str = "",
    now: datetime | None = None,
) -> MaterializePlan:
    """Plan ``requests`` (pairs from :func:`resolve_requests`), adding missing upstream partitions first.

    ``states`` says what is materialized (only read). With ``upstream=False`` nothing is added: a run whose
    upstream partition is missing fails with a message saying how to materialize it. With ``skip_existing``
    requested pairs that are materialized (not failed) are dropped.
    """
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    now = now or datetime.now(UTC)

    def present(pair: Pair) -> bool:
        return states(pair[0]).get(_stored_key(pair[1])) == MATERIALIZED

    skipped = [p for p in requests if skip_existing and present(p)]
    wanted = [p for p in requests if not (skip_existing and present(p))]
    groups: list[tuple[PartitionsDefinition | None, str | None]] = []

    def group_of(pair: Pair) -> int:
        definition = graph.assets[pair[0]].partitions
        for i, (d, k) in enumerate(groups):
            if k == pair[1] and d == definition:
                return i
        groups.append((definition, pair[1]))
        return len(groups) - 1

    group_index: dict[tuple[int, str | None], int] = {}  # (id of the definition, key) -> group: fast path

    def group(pair: Pair) -> int:
        definition = graph.assets[pair[0]].partitions
        fast = (id(definition), pair[1])
        found = group_index.get(fast)
        if found is None:
            found = group_index[fast] = group_of(pair)
        return found

    nodes: dict[Pair, _Node] = {}
    stack = list(reversed(wanted))
    for pair in wanted:
        nodes[pair] = _Node(pair, group(pair))
    while stack:
        pair = stack.pop()
        node = nodes[pair]
        if not upstream:
            continue
        for up in upstream_pairs(graph, pair, now=now):
            if up in nodes:
                node.ups.append(up)
                continue
            if present(up):
                continue
            nodes[up] = _Node(up, group(up))
            node.ups.append(up)
            stack.append(up)
            if len(nodes) > MAX_RUNS:
                raise UsageError(
                    f"the plan needs more than {MAX_RUNS:,} asset partitions: materialize a smaller range "
                    "(or the missing upstream partitions first)"
                )
    position = {key: i for i, key in enumerate(graph.order)}
    topological = sorted(nodes.values(), key=lambda n: position[n.pair[0]])
    downs: dict[Pair, list[_Node]] = {}
    for node in topological:  # as early as possible: after every upstream in another group
        node.level = max(
            (nodes[u].level + (0 if nodes[u].group == node.group else 1) for u in node.ups),
            default=0,
        )
        for u in node.ups:
            downs.setdefault(u, []).append(node)
    for node in reversed(topological):  # then as late as possible, to share the run of its partition's downstream
        after = downs.get(node.pair, [])
        same = [d.level for d in after if d.group == node.group]
        if same:
            latest = min([*same, *(d.level - 1 for d in after if d.group != node.group)])
            node.level = max(node.level, latest)
    requested = set(wanted)
    by_run: dict[tuple[int, int], list[Pair]] = {}
    for node in nodes.values():
        by_run.setdefault((node.level, node.group), []).append(node.pair)
    runs: list[PlannedRun] = []
    for (level, index), pairs in by_run.items():
        definition, partition = groups[index]
        assets = tuple(sorted((a for a, _ in pairs), key=position.__getitem__))
        runs.append(
            PlannedRun(
                wave=level,
                partition_key=partition,
                partitions=definition,
                assets=assets,
                requested=tuple(a for a in assets if (a, partition) in requested),
            )
        )
    ordered: list[PlannedRun] = []
    for level in range(1 + max((r.wave for r in runs), default=-1)):
        wave = sorted((r for r in runs if r.wave == level), key=_run_position)
        ordered += order_runs(wave, strategy, f"{seed}:{level}")
    return MaterializePlan(requested=list(requests), runs=ordered, skipped=skipped, strategy=strategy)


def _run_position(run: PlannedRun) -> tuple[float, str, str]:
    return (partition_position(run.partitions, run.partition_key), run.label, ",".join(run.assets))


def partition_position(definition: PartitionsDefinition | None, key: str | None) -> float:
    """Where ``key`` falls in its partitions (window start for time partitions, index for static ones)."""
    if definition is None or key is None:
        return float("-inf")
    window = definition.window(key)
    if window is not None:
        return window.start.timestamp()
    keys = definition.keys()
    return float(keys.index(key)) if key in keys else float("inf")


def order_runs(runs: Sequence[PlannedRun], strategy: str, seed: str) -> list[PlannedRun]:
    """``runs`` (oldest first) in the order the strategy starts them; ``random`` is seeded by ``seed``."""
    if strategy == "oldest-first":
        return list(runs)
    if strategy == "newest-first":
        return list(reversed(runs))
    shuffled = list(runs)
    random.Random(seed).shuffle(shuffled)  # noqa: S311 - an order, not a secret
    return shuffled


# -- running -------------------------------------------------------------------------------------


class MaterializeProgress(Protocol):
    """What a display is told while a plan runs (calls come from the driving thread)."""

    def run_started(self, run: PlannedRun) -> None: ...

    def run_finished(self, run: PlannedRun, summary: RunSummary) -> None: ...


@dataclass(frozen=True, slots=True)
class MaterializeOutcome:
    """What running a plan did: each started run's summary, and the runs not started after a failure."""

    finished: list[tuple[PlannedRun, RunSummary]]
    not_started: list[PlannedRun]
    duration: float
    interrupted: bool = False  # stopped by Ctrl-C: the runs in flight finished, no other started

    @property
    def failed(self) -> list[tuple[PlannedRun, RunSummary]]:
        return [(run, summary) for run, summary in self.finished if not summary.ok]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_started and not self.interrupted


def run_plan(
    project: Project,
    graph: AssetGraph,
    plan: MaterializePlan,
    *,
    store: Store,
    executor_name: str | None = None,
    parallelism: int = 1,
    progress: MaterializeProgress | None = None,
    trigger: str = "manual",
    on_interrupt: Callable[[], None] | None = None,
) -> MaterializeOutcome:
    """Run the plan's waves in order, up to ``parallelism`` runs at once; after a failed run no new wave starts.

    Ctrl-C (KeyboardInterrupt) stops it cleanly: the runs in flight finish, nothing else starts
    (``on_interrupt`` is called then); a second Ctrl-C aborts.
    """
    from headwater.engine.asset_runs import run_asset_now

    if parallelism < 1:
        raise UsageError(f"parallelism must be at least 1, got {parallelism}")
    began = time.monotonic()
    finished: list[tuple[PlannedRun, RunSummary]] = []
    not_started: list[PlannedRun] = []

    def launch(run: PlannedRun) -> RunSummary:
        return run_asset_now(
            project,
            graph,
            list(run.assets),
            run.partition_key,
            store=store,
            executor=executor_name,
            trigger=trigger,
        )

    interrupted = False
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="headwater-materialize") as pool:
        for level in range(plan.waves):
            wave = plan.wave(level)
            if interrupted or any(not summary.ok for _, summary in finished):
                not_started += wave
                continue
            queue = list(wave)
            running: dict[Future[RunSummary], PlannedRun] = {}
            while queue or running:
                try:
                    while queue and len(running) < parallelism:
                        run = queue.pop(0)
                        if progress is not None:
                            progress.run_started(run)
                        running[pool.submit(launch, run)] = run
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in done:
                        run = running.pop(future)
                        summary = future.result()
                        finished.append((run, summary))
                        if progress is not None:
                            progress.run_finished(run, summary)
                except KeyboardInterrupt:
                    if interrupted:
                        raise  # a second Ctrl-C: abort at once
                    interrupted = True  # the runs in flight finish; nothing else starts
                    not_started += queue
                    queue = []
                    if on_interrupt is not None:
                        on_interrupt()
    return MaterializeOutcome(finished, not_started, time.monotonic() - began, interrupted)
