"""Materialize planning and running: missing upstream partitions first, runs per partition, waves, parallelism."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from headwater import (
    DailyPartitions,
    MonthlyPartitions,
    StaticPartitions,
    TimeWindowPartitionMapping,
    asset,
)
from headwater.config.settings import Project, load_project
from headwater.engine.launch import open_store
from headwater.engine.listener import RunSummary
from headwater.engine.materialize import (
    MaterializePlan,
    PlannedRun,
    StateReader,
    plan_materialization,
    resolve_requests,
    run_plan,
    store_states,
)
from headwater.errors import UsageError
from headwater.loader.assets import AssetGraph, graph_of, load_asset_graph
from headwater.store.assets import materialization_history, partition_states

NOW = datetime(2026, 4, 15, tzinfo=UTC)
DAILY = DailyPartitions(start="2026-01-01")
MONTHLY = MonthlyPartitions(start="2026-01-01")


def warehouse_graph() -> AssetGraph:
    """raw (daily) -> stg (daily) -> fct (daily, also reads dim, unpartitioned) -> monthly (monthly)."""

    @asset(partitions=DAILY)
    def raw() -> int:
        return 1

    @asset
    def dim() -> int:
        return 1

    @asset(partitions=DAILY)
    def stg(raw: int) -> int:
        return raw

    @asset(partitions=DAILY)
    def fct(stg: int, dim: int) -> int:
        return stg + dim

    @asset(partitions=MONTHLY)
    def monthly(fct: Mapping[str, int]) -> int:
        return sum(fct.values())

    return graph_of([raw, dim, stg, fct, monthly])


def states_of(table: Mapping[str, Mapping[str, str]]) -> StateReader:
    def states(asset_key: str) -> Mapping[str, str]:
        return table.get(asset_key, {})

    return states


def runs(plan: MaterializePlan) -> list[tuple[int, str, tuple[str, ...], tuple[str, ...]]]:
    """(wave, partition, assets, requested) of every run, in plan order."""
    return [(r.wave, r.label, r.assets, r.requested) for r in plan.runs]


# -- planning ------------------------------------------------------------------------------------


def test_missing_upstream_partitions_are_planned_first_in_the_same_run_per_partition() -> None:
    graph = warehouse_graph()

    plan = plan_materialization(graph, [("stg", "2026-01-01"), ("stg", "2026-01-02")], now=NOW)

    assert runs(plan) == [
        (0, "2026-01-01", ("raw", "stg"), ("stg",)),
        (0, "2026-01-02", ("raw", "stg"), ("stg",)),
    ]
    assert plan.added == [("raw", "2026-01-01"), ("raw", "2026-01-02")]
    assert plan.waves == 1


def test_an_unpartitioned_upstream_runs_in_an_earlier_wave() -> None:
    plan = plan_materialization(warehouse_graph(), [("fct", "2026-01-02")], now=NOW)

    assert runs(plan) == [
        (0, "unpartitioned", ("dim",), ()),
        (1, "2026-01-02", ("raw", "stg", "fct"), ("fct",)),  # one run per partition, after dim
    ]


def test_a_monthly_run_waits_for_every_daily_run_of_its_month() -> None:
    plan = plan_materialization(
        warehouse_graph(),
        [("monthly", "2026-02")],
        states=states_of({"dim": {"": "materialized"}}),
        now=NOW,
    )

    daily = [r for r in plan.runs if r.partition_key != "2026-02"]
    assert [r.label for r in daily] == [f"2026-02-{d:02d}" for d in range(1, 29)]
    assert {r.wave for r in daily} == {0}
    assert all(r.assets == ("raw", "stg", "fct") and r.requested == () for r in daily)
    assert runs(plan)[-1] == (1, "2026-02", ("monthly",), ("monthly",))


def test_materialized_upstream_partitions_are_not_planned_and_failed_ones_are() -> None:
    states = states_of(
        {
            "raw": {"2026-01-01": "materialized", "2026-01-02": "failed"},
            "stg": {"2026-01-01": "materialized"},
            "dim": {"": "materialized"},
        }
    )
    plan = plan_materialization(
        warehouse_graph(),
        [("fct", "2026-01-01"), ("fct", "2026-01-02")],
        states=states,
        now=NOW,
    )

    assert runs(plan) == [
        (0, "2026-01-01", ("fct",), ("fct",)),
        (0, "2026-01-02", ("raw", "stg", "fct"), ("fct",)),
    ]


def test_requested_partitions_run_even_when_materialized_unless_skip_existing() -> None:
    states = states_of({"raw": {"2026-01-01": "materialized", "2026-01-02": "failed"}})
    requests = [("raw", "2026-01-01"), ("raw", "2026-01-02")]

    again = plan_materialization(warehouse_graph(), requests, states=states, now=NOW)
    skipping = plan_materialization(
        warehouse_graph(),
        requests,
        states=states,
        skip_existing=True,
        now=NOW,
    )

    assert [r.label for r in again.runs] == ["2026-01-01", "2026-01-02"]
    assert [r.label for r in skipping.runs] == ["2026-01-02"]  # a failed partition is not skipped
    assert skipping.skipped == [("raw", "2026-01-01")]


def test_no_upstream_plans_only_what_was_asked() -> None:
    plan = plan_materialization(warehouse_graph(), [("fct", "2026-01-05")], upstream=False, now=NOW)

    assert runs(plan) == [(0, "2026-01-05", ("fct",), ("fct",))]


def test_a_previous_day_mapping_orders_runs_of_the_same_partitions_by_wave() -> None:
    @asset(partitions=DAILY)
    def events() -> int:
        return 1

    @asset(partitions=DAILY, partition_mappings={"events": TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)})
    def yesterday(events: int) -> int:
        return events

    graph = graph_of([events, yesterday])
    plan = plan_materialization(graph, [("yesterday", "2026-01-02"), ("yesterday", "2026-01-03")], now=NOW)

    assert runs(plan) == [
        (0, "2026-01-01", ("events",), ()),
        (0, "2026-01-02", ("events",), ()),
        (1, "2026-01-02", ("yesterday",), ("yesterday",)),
        (1, "2026-01-03", ("yesterday",), ("yesterday",)),
    ]


def test_strategies_order_the_runs_of_each_wave() -> None:
    requests = [("raw", f"2026-01-0{d}") for d in range(1, 8)]
    graph = warehouse_graph()

    newest = plan_materialization(graph, requests, strategy="newest-first", now=NOW)
    shuffled = plan_materialization(graph, requests, strategy="random", seed="abc", now=NOW)
    again = plan_materialization(graph, requests, strategy="random", seed="abc", now=NOW)

    assert [r.label for r in newest.runs] == [f"2026-01-0{d}" for d in range(7, 0, -1)]
    assert [r.label for r in shuffled.runs] == [r.label for r in again.runs]  # seeded: a resume keeps its order
    assert sorted(r.label for r in shuffled.runs) == [k for _, k in requests]
    with pytest.raises(UsageError, match="unknown strategy 'sideways'"):
        plan_materialization(graph, requests, strategy="sideways", now=NOW)


def test_static_partitions_group_by_key() -> None:
    regions = StaticPartitions(["eu", "us", "apac"])

    @asset(partitions=regions)
    def sales() -> int:
        return 1

    @asset(partitions=regions)
    def report(sales: int) -> int:
        return sales

    plan = plan_materialization(graph_of([sales, report]), [("report", "us"), ("report", "eu")], now=NOW)

    assert runs(plan) == [(0, "eu", ("sales", "report"), ("report",)), (0, "us", ("sales", "report"), ("report",))]


# -- validating a request ------------------------------------------------------------------------


def test_requests_expand_ranges_and_keep_order() -> None:
    pairs = resolve_requests(warehouse_graph(), ["stg", "raw"], ["2026-01-30..2026-02-01", "2026-01-01"])

    assert pairs == [
        ("stg", "2026-01-30"),
        ("stg", "2026-01-31"),
        ("stg", "2026-02-01"),
        ("stg", "2026-01-01"),
        ("raw", "2026-01-30"),
        ("raw", "2026-01-31"),
        ("raw", "2026-02-01"),
        ("raw", "2026-01-01"),
    ]


@pytest.mark.parametrize(
    ("assets", "partitions", "message"),
    [
        (["monthy"], [], "unknown asset 'monthy' (did you mean 'monthly'?); known assets: dim, fct, monthly, raw, stg"),
        (["fct"], [], "asset 'fct' is partitioned (daily partitions from 2026-01-01"),
        (["dim"], ["2026-01-01"], "asset 'dim' is not partitioned: materialize it without --partition"),
        (["fct"], ["2026-13-01"], "--partition for asset 'fct': partition '2026-13-01' is not in daily partitions"),
        (["fct"], ["2025-12-31"], "--partition for asset 'fct': partition '2025-12-31' is not in daily partitions"),
        (["monthly"], ["2026-03-01"], "--partition for asset 'monthly': partition '2026-03-01' is not in monthly"),
        (["fct"], ["2026-01-05..2026-01-01"], "2026-01-05 is after 2026-01-01"),
        (["fct"], ["2026-01-05.."], "a range is FIRST..LAST"),
    ],
)
def test_bad_requests_name_the_asset_and_the_problem(assets: list[str], partitions: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        resolve_requests(warehouse_graph(), assets, partitions)

    assert message in str(caught.value)


# -- running -------------------------------------------------------------------------------------

SOURCE = """
import json
from pathlib import Path
from headwater import DailyPartitions, Materialization, MonthlyPartitions, asset

DAILY = DailyPartitions(start="2026-01-01")
LOG = Path(__file__).resolve().parent.parent / "calls.txt"
FAIL = Path(__file__).resolve().parent.parent / "fail.txt"


def note(name, ctx):
    with LOG.open("a") as f:
        f.write(f"{name} {ctx.partition}\\n")


@asset(partitions=DAILY)
def raw(ctx):
    note("raw", ctx)
    return {"day": ctx.partition, "rows": int(ctx.partition[-2:])}


@asset(partitions=DAILY)
def stg(ctx, raw):
    note("stg", ctx)
    if FAIL.exists() and ctx.partition in FAIL.read_text().split():
        raise ValueError(f"bad day {ctx.partition}")
    return Materialization(raw["rows"] * 10, metadata={"rows": raw["rows"]})


@asset(partitions=MonthlyPartitions(start="2026-01-01"))
def monthly(ctx, stg):
    note("monthly", ctx)
    return sum(stg.values())
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "headwater.toml").write_text('executor = "inline"\n', encoding="utf-8")
    (root / "pipelines" / "assets.py").write_text(textwrap.dedent(SOURCE), encoding="utf-8")
    return load_project(root)


def calls(project: Project) -> list[str]:
    path = project.root / "calls.txt"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_running_a_plan_materializes_upstream_first_and_passes_values(project: Project) -> None:
    graph = load_asset_graph(project.pipelines_dir)
    store = open_store(project)
    try:
        plan = plan_materialization(graph, [("monthly", "2026-02")], states=store_states(store), now=NOW)
        outcome = run_plan(project, graph, plan, store=store, parallelism=3)
        history = materialization_history(store, "monthly")
        stg_states = partition_states(store, "stg")
        stg_meta = materialization_history(store, "stg", "2026-02-03")[0].metadata
    finally:
        store.close()

    assert outcome.ok, [s.state for _, s in outcome.finished]
    assert len(outcome.finished) == 29  # 28 daily runs, then the monthly one
    assert calls(project)[-1] == "monthly 2026-02"
    assert sorted(calls(project)[:-1]) == sorted(
        f"{name} 2026-02-{d:02d}" for d in range(1, 29) for name in ("raw", "stg")
    )
    assert history[0].partition_key == "2026-02"
    assert history[0].result is not None and history[0].result.value == str(sum(d * 10 for d in range(1, 29)))
    assert {k for k, s in stg_states.items() if s.state == "materialized"} == {f"2026-02-{d:02d}" for d in range(1, 29)}
    assert stg_meta == {"rows": 3}


def test_a_failed_run_stops_the_later_waves(project: Project) -> None:
    (project.root / "fail.txt").write_text("2026-02-10", encoding="utf-8")
    graph = load_asset_graph(project.pipelines_dir)
    store = open_store(project)
    try:
        plan = plan_materialization(graph, [("monthly", "2026-02")], now=NOW)
        outcome = run_plan(project, graph, plan, store=store)
        states = partition_states(store, "stg")
        monthly = partition_states(store, "monthly")
    finally:
        store.close()

    assert not outcome.ok
    assert [(r.label, s.state) for r, s in outcome.failed] == [("2026-02-10", "failed")]
    assert [r.label for r in outcome.not_started] == ["2026-02"]
    assert len(outcome.finished) == 28  # the other daily runs of the wave still ran
    assert states["2026-02-10"].state == "failed"
    assert "monthly 2026-02" not in calls(project)
    assert monthly == {}


def test_planning_reads_what_the_store_recorded(project: Project) -> None:
    graph = load_asset_graph(project.pipelines_dir)
    store = open_store(project)
    try:
        first = plan_materialization(graph, [("stg", "2026-01-01")], states=store_states(store), now=NOW)
        assert run_plan(project, graph, first, store=store).ok
        second = plan_materialization(
            graph, [("stg", "2026-01-01"), ("stg", "2026-01-02")], states=store_states(store), now=NOW
        )
    finally:
        store.close()

    assert runs(first) == [(0, "2026-01-01", ("raw", "stg"), ("stg",))]
    assert runs(second) == [(0, "2026-01-01", ("stg",), ("stg",)), (0, "2026-01-02", ("raw", "stg"), ("stg",))]


class InterruptAfterFirst:
    """A display during which the user presses Ctrl-C once the first run has finished."""

    def __init__(self) -> None:
        self.finished: list[str] = []

    def run_started(self, run: PlannedRun) -> None:
        pass

    def run_finished(self, run: PlannedRun, summary: RunSummary) -> None:
        self.finished.append(run.label)
        if len(self.finished) == 1:
            raise KeyboardInterrupt


def test_ctrl_c_lets_runs_in_flight_finish_and_starts_nothing_else(project: Project) -> None:
    graph = load_asset_graph(project.pipelines_dir)
    stopping: list[bool] = []
    store = open_store(project)
    try:
        plan = plan_materialization(graph, [("stg", f"2026-01-0{d}") for d in range(1, 6)], now=NOW)
        outcome = run_plan(
            project,
            graph,
            plan,
            store=store,
            progress=InterruptAfterFirst(),
            on_interrupt=lambda: stopping.append(True),
        )
    finally:
        store.close()

    assert outcome.interrupted and not outcome.ok and stopping == [True]
    assert [r.label for r, _ in outcome.finished] == ["2026-01-01"]
    assert [r.label for r in outcome.not_started] == ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]
    assert calls(project) == ["raw 2026-01-01", "stg 2026-01-01"]
