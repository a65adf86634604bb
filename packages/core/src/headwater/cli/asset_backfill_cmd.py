"""``headwater backfill ASSET --start P --end P``: every partition of a range, missing upstream partitions first."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, NoReturn, TextIO

import click

from headwater.cli.assets_cmd import PlainMaterializeProgress, check_runnable, print_plan
from headwater.cli.common import EXIT_OK, EXIT_RUN_FAILED
from headwater.model.durations import format_duration

if TYPE_CHECKING:
    from headwater.config.settings import Project
    from headwater.engine.asset_backfill import AssetBackfillOutcome, AssetBackfillPlan
    from headwater.loader.assets import AssetGraph
    from headwater.store.backfills import BackfillRecord
    from headwater.store.repository import Store


def _span(plan: AssetBackfillPlan) -> str:
    return f"{len(plan.keys)} partition(s) {plan.keys[0]} .. {plan.keys[-1]}"


def _materialized(store: Store | None, plan: AssetBackfillPlan) -> list[str]:
    """Partitions of the range that are materialized (and did not fail since)."""
    if store is None:
        return []
    from headwater.engine.materialize import MATERIALIZED, store_states

    states = store_states(store)(plan.asset_key)
    return [k for k in plan.keys if states.get(k) == MATERIALIZED]


def _listing(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def print_dry_run(
    plan: AssetBackfillPlan, materialized: list[str], open_one: BackfillRecord | None, out: TextIO | None = None
) -> None:
    """What an asset backfill would do, without doing it."""
    out = out or sys.stdout
    out.write(f"dry run: nothing is written\nbackfill of asset {plan.asset_key} ({plan.partitions.describe()})\n")
    out.write(f"  partitions {_span(plan)}\n")
    if plan.skip_existing:
        if materialized:
            out.write(f"  skipping   {len(materialized)} partition(s) already materialized: {_listing(materialized)}\n")
        else:
            out.write("  skipping   nothing: no partition of the range is materialized yet\n")
    elif materialized:
        out.write(
            f"  --skip-existing would skip {len(materialized)} partition(s) already materialized: "
            f"{_listing(materialized)}\n"
        )
    if plan.done:
        out.write(f"  done       {len(plan.done)} partition(s) materialized by the unfinished backfill\n")
    print_plan(plan.plan, plan.parallelism, out, verb="plan")
    if open_one is not None:
        out.write(
            f"an unfinished backfill {open_one.backfill_id} of this range exists: without --dry-run it is resumed "
            "(its runs in flight first, then what is left of the range)\n"
        )


def print_outcome(outcome: AssetBackfillOutcome, plan: AssetBackfillPlan, out: TextIO | None = None) -> None:
    """The summary: partitions, materialized, skipped, runs, and the failed runs."""
    out = out or sys.stdout
    b = outcome.backfill
    verdict = "interrupted after" if not outcome.finished else "succeeded in" if outcome.ok else "FAILED in"
    out.write(f"backfill {b.backfill_id} of asset {plan.asset_key} {verdict} {format_duration(outcome.duration)}\n")
    out.write(f"  partitions   {_span(plan)}\n")
    out.write(f"  materialized {len(outcome.materialized)}\n")
    if outcome.skipped:
        out.write(f"  skipped      {outcome.skipped} (already materialized)\n")
    runs = sum(outcome.states.values())
    out.write(f"  runs         {runs}: {outcome.states.get('success', 0)} succeeded, {outcome.failed} failed\n")
    if outcome.not_started:
        out.write(f"  not started  {len(outcome.not_started)} run(s) of later waves (a run failed)\n")
    if not outcome.finished:
        out.write("  run the same command again to resume\n")
    if outcome.failed_runs:
        out.write("failed runs (see `headwater history RUN_ID`):\n")
        for run in outcome.failed_runs[:20]:
            out.write(f"  {run.run_id}  {run.partition_key or '-'}\n")
        if len(outcome.failed_runs) > 20:
            out.write(f"  ... and {len(outcome.failed_runs) - 20} more\n")


def backfill_asset(
    project: Project,
    graph: AssetGraph,
    asset_key: str,
    *,
    start: str,
    end: str,
    parallelism: int | None,
    strategy: str,
    skip_existing: bool,
    dry_run: bool,
    executor: str | None,
    quiet: bool,
) -> NoReturn:
    """The asset form of ``headwater backfill`` (exits: 0 success, 1 a run failed, 2 bad input, 130 stopped)."""
    from headwater.cli.backfill_cmd import EXIT_INTERRUPTED, _stop_on_signals, resume_open
    from headwater.engine.admission import pool_limits
    from headwater.engine.asset_backfill import (
        AssetBackfillRunner,
        create_asset_backfill,
        find_open,
        plan_asset_backfill,
    )
    from headwater.engine.backfill import DEFAULT_PARALLELISM, check_backfill_pools, new_backfill_id
    from headwater.engine.launch import load_executor, open_existing_store, open_store
    from headwater.engine.materialize import no_states, store_states
    from headwater.engine.scheduler import SchedulerOptions
    from headwater.loader.assets import asset_pipeline
    from headwater.model.pipeline import ASSETS_PIPELINE_ID
    from headwater.store.backfills import materialized_partitions
    from headwater.store.leases import pending_runs

    def plan_for(store: Store | None, *, done: frozenset[str] = frozenset(), seed: str = "") -> AssetBackfillPlan:
        return plan_asset_backfill(
            graph,
            asset_key,
            start,
            end,
            parallelism=parallelism or DEFAULT_PARALLELISM,
            strategy=strategy,
            skip_existing=skip_existing,
            states=store_states(store) if store is not None else no_states,
            done=done,
            seed=seed,
        )

    # Validate everything before the first write: bad input leaves no trace.
    plan = plan_for(None)
    executor_name = executor or project.settings.executor
    involved = graph.sorted({asset_key} | graph.ancestors([asset_key]))
    check_runnable(project, graph, involved, executor_name)
    check_backfill_pools(asset_pipeline(graph, involved), pool_limits(project.settings.pools))

    if dry_run:
        existing = open_existing_store(project)
        open_one = None
        materialized: list[str] = []
        try:
            if existing is not None:
                open_one = find_open(existing, plan)
                done = (
                    frozenset(materialized_partitions(existing, open_one.backfill_id, asset_key))
                    if open_one is not None
                    else frozenset()
                )
                plan = plan_for(existing, done=done, seed=open_one.backfill_id if open_one else "")
                materialized = _materialized(existing, plan)
        finally:
            if existing is not None:
                existing.close()
        print_dry_run(plan, materialized, open_one)
        sys.exit(EXIT_OK)

    exe = load_executor(executor_name, parallelism=project.settings.concurrency)
    store = open_store(project)
    try:
        record = find_open(store, plan)
        resumed = record is not None
        if record is not None:
            record = resume_open(store, record, parallelism, strategy, skip_existing)
            click.echo(f"resuming backfill {record.backfill_id} of asset {asset_key}: {_span(plan)}")
        else:
            backfill_id = new_backfill_id()
            plan = plan_for(store, seed=backfill_id)
            if not plan.plan.runs:
                click.echo(
                    f"nothing to backfill: all {len(plan.keys)} partition(s) of {asset_key} from {plan.keys[0]} "
                    f"to {plan.keys[-1]} are materialized"
                )
                sys.exit(EXIT_OK)
            record = create_asset_backfill(store, plan, now=time.time(), backfill_id=backfill_id)
            click.echo(
                f"backfill {record.backfill_id} of asset {asset_key}: {_span(plan)}, "
                f"{record.parallelism} at a time, {record.strategy}"
            )
        progress = None if quiet else PlainMaterializeProgress(0)
        if progress is not None and resumed:
            progress.total = pending_runs(store, [ASSETS_PIPELINE_ID], backfill_id=record.backfill_id)
        first = plan
        current = record

        def plan_rest(done: frozenset[str]) -> AssetBackfillPlan:
            rest = first
            if resumed:
                rest = plan_asset_backfill(
                    graph,
                    asset_key,
                    start,
                    end,
                    parallelism=current.parallelism,
                    strategy=current.strategy,
                    skip_existing=current.skip_existing,
                    states=store_states(store),
                    done=done,
                    seed=current.backfill_id,
                )
                if rest.plan.runs:
                    print_plan(rest.plan, parallelism or current.parallelism, verb="left to run")
            else:
                print_plan(rest.plan, current.parallelism, verb="plan")
            if progress is not None:
                progress.total = progress.done + len(rest.plan.runs)
            return rest

        runner = AssetBackfillRunner(
            project,
            graph,
            record,
            store=store,
            executor=exe,
            executor_name=executor_name,
            options=SchedulerOptions.from_settings(project.settings.scheduler),
            progress=progress,
        )
        with _stop_on_signals(runner.stop):
            outcome = runner.run(plan_rest)
    finally:
        store.close()
    print_outcome(outcome, plan)
    if not outcome.finished:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_OK if outcome.ok else EXIT_RUN_FAILED)
