"""``headwater assets`` (catalogue, partition status, lineage) and ``headwater materialize``."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

import click

from headwater.cli.common import EXIT_OK, EXIT_RUN_FAILED, load_project_from, reports_errors
from headwater.model.durations import format_duration

if TYPE_CHECKING:
    from headwater.config.settings import Project
    from headwater.engine.listener import RunSummary
    from headwater.engine.materialize import MaterializeOutcome, MaterializePlan, PlannedRun, StateReader
    from headwater.loader.assets import AssetGraph
    from headwater.model.asset import AssetDefinition
    from headwater.store.assets import MaterializationRecord
    from headwater.store.repository import Store

EXIT_INTERRUPTED = 130
#: A plan lists every run up to this many; more are shown as the first and last few.
LIST_ALL = 12
LIST_ENDS = 3


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def load_graph(project: Project) -> AssetGraph:
    """The project's asset graph (DefinitionError, exit 2, if a file does not load or the graph is invalid)."""
    from headwater.loader.assets import load_asset_graph

    return load_asset_graph(project.pipelines_dir)


# -- materialize ---------------------------------------------------------------------------------


def run_line(run: PlannedRun, width: int = 0) -> str:
    """``2026-03-01  fct_orders  (+ missing upstream raw_orders, stg_orders)``."""
    if not run.requested:
        return f"{run.label:<{width}}  {', '.join(run.assets)}  (missing upstream)"
    line = f"{run.label:<{width}}  {', '.join(run.requested)}"
    if run.upstream:
        line += f"  (+ missing upstream {', '.join(run.upstream)})"
    return line


def print_plan(
    plan: MaterializePlan, parallelism: int, out: TextIO | None = None, *, verb: str = "materialize"
) -> None:
    """One line per run (the first and last few of long plans), wave by wave."""
    out = out or sys.stdout
    waves = plan.waves
    out.write(
        f"{verb}: {len(plan.runs)} run(s) in {waves} wave(s), {parallelism} at a time"
        f"{f', {plan.strategy}' if plan.strategy != 'oldest-first' else ''}\n"
    )
    if plan.skipped:
        out.write(f"  skipping {len(plan.skipped)} partition(s) already materialized\n")
    width = max((len(r.label) for r in plan.runs), default=0)
    for level in range(waves):
        wave = plan.wave(level)
        prefix = f"  wave {level + 1}  " if waves > 1 else "  "
        shown = wave if len(wave) <= LIST_ALL else [*wave[:LIST_ENDS], None, *wave[-LIST_ENDS:]]
        for run in shown:
            if run is None:
                out.write(f"{prefix}... {len(wave) - 2 * LIST_ENDS} more ...\n")
            else:
                out.write(f"{prefix}{run_line(run, width)}\n")
    out.flush()


def _failure(summary: RunSummary) -> str:
    for task in summary.tasks:
        if task.state == "failed":
            error = (task.error or "").strip().splitlines()
            return f"{task.task_id}: {error[-1][:200]}" if error else task.task_id
    return summary.state


class PlainMaterializeProgress:
    """One line per finished run."""

    def __init__(self, total: int, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.total = total
        self.done = 0
        self.start = time.monotonic()

    def run_started(self, run: PlannedRun) -> None:
        pass

    def run_finished(self, run: PlannedRun, summary: RunSummary) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.start
        count = f"{self.done:>{len(str(self.total))}}/{self.total}" if self.total >= self.done else str(self.done)
        line = (
            f"[{elapsed:7.2f}s] {count} {summary.state:<7} "
            f"{run.label}  {', '.join(run.assets)}  {format_duration(summary.duration)}  {summary.run_id}"
        )
        if not summary.ok:
            line += f"\n           {_failure(summary)}"
        self.out.write(line + "\n")
        self.out.flush()


def print_outcome(outcome: MaterializeOutcome, out: TextIO | None = None) -> None:
    """The verdict, then the failed runs and the runs that did not start."""
    out = out or sys.stdout
    pairs = sum(len(run.assets) for run, summary in outcome.finished if summary.ok)
    runs = len(outcome.finished) + len(outcome.not_started)
    if outcome.interrupted:
        out.write(
            f"materialize interrupted after {format_duration(outcome.duration)}: {len(outcome.finished)} of {runs} "
            f"run(s) ran ({len(outcome.failed)} failed), {len(outcome.not_started)} not started; "
            "run the same command again (upstream partitions materialized meanwhile are not run again)\n"
        )
        return
    if outcome.ok:
        out.write(
            f"materialized {pairs} asset partition(s) in {len(outcome.finished)} run(s) "
            f"in {format_duration(outcome.duration)}\n"
        )
        return
    failed = outcome.failed
    out.write(
        f"materialize FAILED: {len(failed)} of {runs} run(s) failed, {len(outcome.not_started)} not started; "
        f"{pairs} asset partition(s) materialized in {format_duration(outcome.duration)}\n"
    )
    for run, summary in failed[:20]:
        out.write(f"  failed       {run.label}  {summary.run_id}  {_failure(summary)}\n")
    if len(failed) > 20:
        out.write(f"  ... and {len(failed) - 20} more failed run(s)\n")
    for run in outcome.not_started[:10]:
        out.write(f"  not started  {run.label}  {', '.join(run.assets)} (an earlier wave failed)\n")
    if len(outcome.not_started) > 10:
        out.write(f"  ... and {len(outcome.not_started) - 10} more not started\n")
    out.write("see `headwater history RUN_ID`; run the same command again to retry\n")


def check_runnable(project: Project, graph: AssetGraph, keys: Sequence[str], executor_name: str) -> None:
    """Executor registered, pools defined: checked before anything is written."""
    from headwater.engine.admission import pool_sizes
    from headwater.engine.run import check_pools
    from headwater.loader.assets import asset_pipeline
    from headwater.plugin.manager import Kind, get_manager

    get_manager().registration(Kind.EXECUTOR, executor_name)
    check_pools(asset_pipeline(graph, keys), pool_sizes(project.settings.pools))


def read_states(project: Project) -> tuple[Store | None, StateReader]:
    """The existing store (None if there is no database yet) and a state reader over it."""
    from headwater.engine.launch import open_existing_store
    from headwater.engine.materialize import no_states, store_states

    store = open_existing_store(project)
    return store, (no_states if store is None else store_states(store))


@click.command()
@click.argument("asset_keys", nargs=-1, required=True, metavar="ASSET...")
@click.option(
    "--partition",
    "partitions",
    multiple=True,
    metavar="P",
    help="Partition key, or an inclusive range FIRST..LAST (repeatable).",
)
@click.option("--no-upstream", is_flag=True, help="Do not materialize missing upstream partitions first.")
@click.option("--parallelism", type=click.IntRange(min=1), default=1, show_default=True, help="Runs at once.")
@click.option("--executor", help="Executor to use (default: the `executor` setting).")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("-q", "--quiet", is_flag=True, help="No line per finished run; only the plan and the summary.")
@click.pass_context
@reports_errors
def materialize(
    ctx: click.Context,
    asset_keys: tuple[str, ...],
    partitions: tuple[str, ...],
    no_upstream: bool,
    parallelism: int,
    executor: str | None,
    dry_run: bool,
    quiet: bool,
) -> None:
    """Materialize ASSET(s): the partitions given, after any missing upstream partition they read.

    The plan groups the (asset, partition) pairs into runs, one per partition, in dependency waves;
    a failed run stops the later waves. Exit 0 when every run succeeded, 1 when one failed.
    """
    from headwater.engine.launch import open_store
    from headwater.engine.materialize import plan_materialization, resolve_requests, run_plan

    project = load_project_from(ctx)
    graph = load_graph(project)
    # Validate everything before the first write: bad input leaves no trace.
    requests = resolve_requests(graph, asset_keys, partitions)
    executor_name = executor or project.settings.executor
    existing, states = read_states(project)
    try:
        plan = plan_materialization(graph, requests, states=states, upstream=not no_upstream)
    finally:
        if existing is not None:
            existing.close()
    check_runnable(project, graph, sorted({a for r in plan.runs for a in r.assets}), executor_name)
    if dry_run:
        sys.stdout.write("dry run: nothing is written\n")
        print_plan(plan, parallelism)
        sys.exit(EXIT_OK)
    print_plan(plan, parallelism)
    store = open_store(project)
    try:
        outcome = run_plan(
            project,
            graph,
            plan,
            store=store,
            executor_name=executor_name,
            parallelism=parallelism,
            progress=None if quiet else PlainMaterializeProgress(len(plan.runs)),
            on_interrupt=lambda: click.echo(
                "stopping: the runs in flight finish first (Ctrl-C again to abort)", err=True
            ),
        )
    finally:
        store.close()
    print_outcome(outcome)
    if outcome.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_OK if outcome.ok else EXIT_RUN_FAILED)


# -- assets: the catalogue -----------------------------------------------------------------------


def _partitions(definition: AssetDefinition) -> str:
    from headwater.engine.materialize import describe_partitions

    return describe_partitions(definition.partitions)


def describe_freshness(definition: AssetDefinition) -> str:
    return "-" if definition.freshness is None else definition.freshness.describe()


def _auto(definition: AssetDefinition) -> str:
    if definition.auto is None:
        return "-"
    if definition.auto == "on_cron":
        return f"on_cron {definition.effective_cron!r}"
    return f"eager (debounce {format_duration(definition.debounce)})"


def print_catalogue(graph: AssetGraph, store: Store | None, out: TextIO | None = None) -> None:
    """Every asset: group, partitions, upstream and downstream, code version, last materialization, owner..."""
    out = out or sys.stdout
    latest: dict[str, MaterializationRecord] = {}
    violations: dict[str, int] = {}
    if store is not None:
        from headwater.store.assets import latest_materializations
        from headwater.store.freshness import violation_counts

        latest = latest_materializations(store, graph.order)
        violations = violation_counts(store, graph.order)
    rows = []
    for key in graph.order:
        a = graph.assets[key]
        last = latest.get(key)
        when = "never"
        if last is not None:
            when = _when(last.created_at) + (f" ({last.partition_key})" if last.partition_key else "")
        fresh = describe_freshness(a)
        if violations.get(key):
            fresh += f" [{violations[key]} violation(s)]"
        rows.append(
            [
                key,
                a.group or "-",
                _partitions(a),
                ", ".join(graph.upstream[key]) or "-",
                ", ".join(graph.downstream[key]) or "-",
                a.code_version[:12] or "-",
                when,
                a.owner or "-",
                fresh,
                _auto(a),
            ]
        )
    header = [
        "asset",
        "group",
        "partitions",
        "upstream",
        "downstream",
        "code",
        "last materialized (UTC)",
        "owner",
        "freshness",
        "auto",
    ]
    out.write(_table(rows, header) + "\n")


def _metadata(values: object) -> str:
    if not isinstance(values, dict) or not values:
        return "-"
    return " ".join(f"{k}={v}" for k, v in values.items())


def print_asset(
    graph: AssetGraph, key: str, store: Store | None, *, limit: int, now: datetime, out: TextIO | None = None
) -> None:
    """One asset: its definition, per-partition status (compact), freshness violations, metadata history."""
    from headwater.engine.asset_status import STATUSES, asset_status, status_of_keys

    out = out or sys.stdout
    a = graph.assets[key]
    lines = [
        ("asset", key),
        ("description", a.description or "-"),
        ("file", graph.file_of.get(key) or "-"),
        ("group", a.group or "-"),
        ("owner", a.owner or "-"),
        ("partitions", _partitions(a)),
        ("upstream", ", ".join(graph.upstream[key]) or "-"),
        ("downstream", ", ".join(graph.downstream[key]) or "-"),
        ("code version", a.code_version or "-"),
        ("freshness", describe_freshness(a)),
        ("auto", _auto(a)),
    ]
    if a.metadata:
        lines.append(("metadata", _metadata(dict(a.metadata))))
    for label, value in lines:
        out.write(f"{label:<13}{value}\n")
    status = asset_status(store, graph, key, now=now)
    counts = status.counts()
    out.write("\n")
    if a.partitions is None:
        only = status.partitions[0]
        out.write(f"status       {only.status}")
        if only.reasons:
            out.write(f" ({'; '.join(only.reasons)})")
        out.write("\n")
    else:
        from headwater.model.partitions import runs_of

        keys, state_of = status_of_keys(status)
        out.write(f"partitions   {len(keys)}\n")
        runs = runs_of(keys, state_of.__getitem__)
        width = max((len(r.first) + (len(r.last) + 4 if r.count > 1 else 0) for r in runs), default=0)
        for r in runs:
            span = f"{r.first} .. {r.last}" if r.count > 1 else r.first
            out.write(f"  {span:<{width}}  {r.state:<8}{r.count:>6}\n")
        out.write("  total        " + ", ".join(f"{counts[s]} {s}" for s in STATUSES) + "\n")
        stale = [p for p in status.partitions if p.status == "stale"]
        if stale:
            out.write(f"  stale because: {stale[-1].key}: {'; '.join(stale[-1].reasons)}\n")
    if store is None:
        out.write("\nno materializations yet (the database does not exist)\n")
        return
    from headwater.store.freshness import recent_violations

    violations = recent_violations(store, key, limit=5)
    if violations:
        out.write("\nfreshness violations (newest first)\n")
        for v in violations:
            part = f" {v.partition_key}" if v.partition_key else ""
            out.write(f"  expected by {_when(v.expected_by)}{part}: {v.minutes_late:.0f} min late\n")
    from headwater.store.assets import materialization_history

    history = materialization_history(store, key, limit=limit)
    out.write(f"\nmaterializations (newest {limit})\n" if history else "\nno materializations yet\n")
    if history:
        rows = [
            [
                str(m.id),
                _when(m.created_at),
                m.partition_key or "-",
                m.run_id,
                (m.code_version or "-")[:12],
                _metadata(m.metadata),
            ]
            for m in history
        ]
        text = _table(rows, ["id", "when (UTC)", "partition", "run", "code", "metadata"])
        out.write("\n".join("  " + line for line in text.splitlines()) + "\n")


# -- assets --lineage ----------------------------------------------------------------------------


class Node:
    """A line of the lineage tree and its children."""

    def __init__(self, label: str, style: str = "") -> None:
        self.label = label
        self.style = style
        self.children: list[Node] = []

    def add(self, label: str, style: str = "") -> Node:
        child = Node(label, style)
        self.children.append(child)
        return child


#: Datasets listed per asset and direction; the rest are counted.
DATASETS_SHOWN = 5


def _datasets(store: Store | None, key: str) -> dict[str, list[str]]:
    """``reads``/``writes`` -> distinct datasets the asset's task reported, newest first."""
    out: dict[str, list[str]] = {"reads": [], "writes": []}
    if store is None:
        return out
    from headwater.store.assets import lineage

    for record in lineage(store, task_id=key):
        found = out.setdefault(record.direction, [])
        if record.dataset not in found:
            found.append(record.dataset)
    return out


def _others(store: Store | None, dataset: str, direction: str, assets: set[str]) -> list[str]:
    """Tasks other than assets that ``direction`` (reads/writes) ``dataset``: ``pipeline.task``."""
    if store is None:
        return []
    from headwater.store.assets import lineage

    found: list[str] = []
    for record in lineage(store, dataset=dataset, limit=200):
        name = f"{record.pipeline_id}.{record.task_id}"
        if record.direction == direction and record.task_id not in assets and name not in found:
            found.append(name)
    return found


def _add_datasets(node: Node, store: Store | None, key: str, assets: set[str]) -> None:
    for direction, values in _datasets(store, key).items():
        for dataset in values[:DATASETS_SHOWN]:
            other = "writes" if direction == "reads" else "reads"
            tasks = _others(store, dataset, other, assets)
            by = f"  ({'written' if other == 'writes' else 'read'} by {', '.join(tasks[:3])})" if tasks else ""
            node.add(f"{direction} {dataset}{by}", "cyan")
        if len(values) > DATASETS_SHOWN:
            node.add(f"{direction} ... and {len(values) - DATASETS_SHOWN} more dataset(s)", "cyan")


def lineage_tree(graph: AssetGraph, key: str, store: Store | None) -> Node:
    """The asset, its upstream assets (recursively), its downstream assets, and the datasets each reported."""
    assets = set(graph.assets)
    root = Node(f"{key}  ({_partitions(graph.assets[key])})", "bold")
    _add_datasets(root, store, key, assets)

    def walk(parent: Node, current: str, edges: dict[str, tuple[str, ...]], seen: set[str]) -> None:
        for other in edges[current]:
            if other in seen:
                parent.add(f"{other}  (shown above)", "dim")
                continue
            seen.add(other)
            child = parent.add(f"{other}  ({_partitions(graph.assets[other])})")
            _add_datasets(child, store, other, assets)
            walk(child, other, edges, seen)

    up = root.add("upstream", "green")
    walk(up, key, graph.upstream, set())
    if not up.children:
        up.add("none (a source asset)", "dim")
    down = root.add("downstream", "yellow")
    walk(down, key, graph.downstream, set())
    if not down.children:
        down.add("none", "dim")
    return root


def print_tree(root: Node, out: TextIO | None = None) -> None:
    """A rich Tree on a terminal, indented plain text otherwise."""
    out = out or sys.stdout
    if out.isatty():
        from rich.console import Console
        from rich.tree import Tree

        def build(tree: Tree, node: Node) -> None:
            for child in node.children:
                build(tree.add(child.label, style=child.style), child)

        top = Tree(root.label, style=root.style)
        build(top, root)
        Console(file=out).print(top)
        return

    def lines(node: Node, depth: int) -> None:
        out.write("  " * depth + node.label + "\n")
        for child in node.children:
            lines(child, depth + 1)

    lines(root, 0)


@click.command()
@click.argument("asset_key", required=False, metavar="[ASSET]")
@click.option("--lineage", "show_lineage", is_flag=True, help="Print ASSET's upstream and downstream graph.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 10_000), help="Materializations listed.")
@click.pass_context
@reports_errors
def assets(ctx: click.Context, asset_key: str | None, show_lineage: bool, limit: int) -> None:
    """The asset catalogue; with ASSET, its partitions' status and materializations; --lineage its graph."""
    from headwater.engine.launch import open_existing_store
    from headwater.engine.materialize import check_asset_keys
    from headwater.errors import UsageError

    project = load_project_from(ctx)
    graph = load_graph(project)
    if asset_key is None:
        if show_lineage:
            raise UsageError("--lineage needs an ASSET")
        if not graph.assets:
            click.echo(f"no assets in {project.pipelines_dir} (define one with @asset)")
            return
    else:
        check_asset_keys(graph, [asset_key])
    store = open_existing_store(project)  # reading never creates the database
    try:
        if asset_key is None:
            print_catalogue(graph, store)
        elif show_lineage:
            print_tree(lineage_tree(graph, asset_key, store))
        else:
            print_asset(graph, asset_key, store, limit=limit, now=datetime.now(UTC))
    finally:
        if store is not None:
            store.close()


COMMANDS = [assets, materialize]
