"""``headwater materialize``, ``headwater assets`` and asset backfills, driven as a user drives them."""

from __future__ import annotations

import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from headwater.cli.app import cli
from headwater.config.settings import Project, load_project
from headwater.engine.asset_backfill import AssetBackfillRunner, create_asset_backfill, plan_asset_backfill
from headwater.engine.launch import load_executor, open_store
from headwater.engine.listener import RunSummary
from headwater.engine.materialize import PlannedRun, store_states
from headwater.loader.assets import load_asset_graph
from headwater.store import backfills
from headwater.store import tables as t
from headwater.store.assets import partition_states
from headwater.store.repository import Store

ASSETS = """
from pathlib import Path
from headwater import DailyPartitions, Freshness, Materialization, MonthlyPartitions, asset

ROOT = Path(__file__).resolve().parent.parent
DAILY = DailyPartitions(start="2026-01-01")


def note(name, ctx):
    with (ROOT / "calls.txt").open("a") as f:
        f.write(f"{name} {ctx.partition}\\n")


def failing(day):
    path = ROOT / "fail.txt"
    return path.exists() and day in path.read_text().split()


@asset(partitions=DAILY, group="sales", owner="data-team")
def raw_orders(ctx):
    \"\"\"The day's orders, as landed.\"\"\"
    note("raw_orders", ctx)
    ctx.report_lineage(reads=["api:orders"], writes=[f"file:landing/{ctx.partition}.csv"])
    return {"rows": int(ctx.partition[-2:])}


@asset
def customers(ctx):
    note("customers", ctx)
    return 10


@asset(partitions=DAILY, freshness=Freshness(max_lag="2h"), auto="eager")
def stg_orders(ctx, raw_orders, customers):
    note("stg_orders", ctx)
    if failing(ctx.partition):
        raise ValueError(f"bad rows on {ctx.partition}")
    ctx.report_lineage(writes=["warehouse.stg_orders"])
    return Materialization(raw_orders["rows"], metadata={"rows": raw_orders["rows"], "CODE": 1})


@asset(partitions=MonthlyPartitions(start="2026-01-01"))
def orders_monthly(ctx, stg_orders):
    note("orders_monthly", ctx)
    return sum(stg_orders.values())
"""

PIPELINE = """
from headwater import Pipeline, task

@task
def export(ctx):
    ctx.report_lineage(reads=["warehouse.stg_orders"], writes=["s3://exports/orders.csv"])

with Pipeline("exports"):
    export()
"""


class Proj:
    """A project with the inline executor, a file of assets and an ordinary pipeline."""

    def __init__(self, root: Path, db: str | None = None) -> None:
        self.root = root
        self.pipelines = root / "pipelines"
        self.pipelines.mkdir(parents=True)
        settings = 'executor = "inline"\n' + (f"db = {db!r}\n" if db else "")
        (root / "headwater.toml").write_text(settings, encoding="utf-8")
        self.write("assets.py", ASSETS)
        self.write("exports.py", PIPELINE)

    def write(self, name: str, source: str) -> None:
        (self.pipelines / name).write_text(textwrap.dedent(source), encoding="utf-8")

    @property
    def db(self) -> Path:
        return self.root / ".headwater" / "headwater.db"

    def invoke(self, *args: str) -> Result:
        """``headwater --project ROOT ARGS`` in this process; a crash other than an exit fails the test."""
        result = CliRunner().invoke(cli, ["--project", str(self.root), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"headwater {' '.join(args)} crashed:\n{result.output}") from result.exception
        return result

    def calls(self) -> list[str]:
        path = self.root / "calls.txt"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def fail_on(self, *days: str) -> None:
        (self.root / "fail.txt").write_text(" ".join(days), encoding="utf-8")

    def project(self) -> Project:
        return load_project(self.root)

    def store(self) -> Store:
        return open_store(self.project())

    def states(self, asset_key: str) -> dict[str, str]:
        store = self.store()
        try:
            return {k: s.state for k, s in partition_states(store, asset_key).items()}
        finally:
            store.close()


@pytest.fixture
def proj(tmp_path: Path) -> Proj:
    return Proj(tmp_path / "proj")


# -- materialize -----------------------------------------------------------------------------------


def test_materialize_plans_missing_upstream_first_and_reports_each_run(proj: Proj) -> None:
    result = proj.invoke("materialize", "stg_orders", "--partition", "2026-01-01..2026-01-02")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "materialize: 3 run(s) in 2 wave(s), 1 at a time",
        "  wave 1  unpartitioned  customers  (missing upstream)",
        "  wave 2  2026-01-01     stg_orders  (+ missing upstream raw_orders)",
        "  wave 2  2026-01-02     stg_orders  (+ missing upstream raw_orders)",
    ]
    assert sum(1 for line in lines if " success " in line) == 3
    assert lines[-1].startswith("materialized 5 asset partition(s) in 3 run(s) in ")
    assert Counter(proj.calls()) == Counter(
        [
            "customers None",
            "raw_orders 2026-01-01",
            "raw_orders 2026-01-02",
            "stg_orders 2026-01-01",
            "stg_orders 2026-01-02",
        ]
    )
    assert proj.states("stg_orders") == {"2026-01-01": "materialized", "2026-01-02": "materialized"}


def test_materialize_again_reuses_upstream_and_no_upstream_fails_clearly(proj: Proj) -> None:
    assert proj.invoke("materialize", "stg_orders", "--partition", "2026-01-01").exit_code == 0
    again = proj.invoke("materialize", "stg_orders", "--partition", "2026-01-01", "-q")
    alone = proj.invoke("materialize", "stg_orders", "--partition", "2026-01-05", "--no-upstream")

    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[:2] == [
        "materialize: 1 run(s) in 1 wave(s), 1 at a time",
        "  2026-01-01  stg_orders",
    ]
    assert Counter(proj.calls())["raw_orders 2026-01-01"] == 1  # the upstream was materialized: not run again
    assert alone.exit_code == 1
    assert "upstream asset 'raw_orders' partition 2026-01-05 has never been materialized" in alone.stdout
    assert "materialize FAILED: 1 of 1 run(s) failed" in alone.stdout


def test_a_failed_run_exits_1_stops_later_waves_and_marks_the_partition_failed(proj: Proj) -> None:
    proj.fail_on("2026-01-02")

    result = proj.invoke("materialize", "orders_monthly", "--partition", "2026-01", "--parallelism", "4", "-q")

    assert result.exit_code == 1, result.output
    assert "materialize FAILED: 1 of 33 run(s) failed, 1 not started" in result.stdout
    assert "stg_orders: ValueError: bad rows on 2026-01-02" in result.stdout
    assert "not started  2026-01  orders_monthly (an earlier wave failed)" in result.stdout
    assert "orders_monthly 2026-01" not in proj.calls()
    assert proj.states("stg_orders")["2026-01-02"] == "failed"

    status = proj.invoke("assets", "stg_orders")
    assert "  2026-01-01                fresh        1" in status.stdout
    assert "  2026-01-02                failed       1" in status.stdout
    assert "  2026-01-03 .. 2026-01-31  fresh       29" in status.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("materialize", "stg_order"), "unknown asset 'stg_order' (did you mean 'stg_orders' or 'raw_orders'?)"),
        (("materialize", "stg_orders"), "asset 'stg_orders' is partitioned (daily partitions from 2026-01-01"),
        (("materialize", "stg_orders", "--partition", "2026-02-30"), "partition '2026-02-30' is not in daily"),
        (("materialize", "stg_orders", "--partition", "2025-12-31"), "partition '2025-12-31' is not in daily"),
        (("materialize", "customers", "--partition", "2026-01-01"), "asset 'customers' is not partitioned"),
        (("materialize", "customers", "--executor", "nowhere"), "nowhere"),
        (("assets", "stg_order"), "unknown asset 'stg_order' (did you mean 'stg_orders' or"),
        (("assets", "--lineage"), "--lineage needs an ASSET"),
        (("backfill", "customers", "--start", "2026-01-01", "--end", "2026-01-02"), "asset 'customers' is not part"),
        (("backfill", "stg_orders", "--start", "2026-01-09", "--end", "2026-01-02"), "2026-01-09 is after 2026-01-02"),
        (("backfill", "stg_orders", "--start", "2026-1-1", "--end", "2026-01-02"), "--start for asset 'stg_orders'"),
        (("backfill", "--asset", "stg_order", "--start", "2026-01-01", "--end", "2026-01-02"), "unknown asset"),
        (("backfill", "stg_orders", "--start", "2026-01-01", "--end", "2026-01-02", "--parallelism", "0"), "0"),
    ],
)
def test_bad_input_exits_2_names_the_problem_and_writes_nothing(
    proj: Proj, args: tuple[str, ...], message: str
) -> None:
    result = proj.invoke(*args)

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not proj.db.exists()


def test_an_unknown_dependency_in_a_file_is_a_definition_error(proj: Proj) -> None:
    proj.write("bad.py", "from headwater import asset\n\n@asset\ndef report(raw_order):\n    return 1\n")

    result = proj.invoke("materialize", "report")

    assert result.exit_code == 2
    assert "asset 'report' depends on unknown asset 'raw_order' (did you mean 'raw_orders' or" in result.output
    assert "bad.py" in result.output
    assert not proj.db.exists()


def test_reading_commands_never_create_the_database(proj: Proj) -> None:
    for args in (
        ("assets",),
        ("assets", "stg_orders"),
        ("assets", "--lineage", "stg_orders"),
        ("materialize", "stg_orders", "--partition", "2026-01-01", "--dry-run"),
        ("backfill", "stg_orders", "--start", "2026-01-01", "--end", "2026-01-03", "--dry-run"),
    ):
        result = proj.invoke(*args)
        assert result.exit_code == 0, (args, result.output)
    assert not proj.db.exists()


# -- assets ---------------------------------------------------------------------------------------


def test_catalogue_lists_every_asset_with_its_edges_and_last_materialization(proj: Proj) -> None:
    assert proj.invoke("materialize", "raw_orders", "--partition", "2026-01-03").exit_code == 0

    result = proj.invoke("assets")

    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split()[:6] == ["asset", "group", "partitions", "upstream", "downstream", "code"]
    by_asset = {row.split()[0]: row for row in rows}
    assert list(by_asset) == ["raw_orders", "customers", "stg_orders", "orders_monthly"]
    assert "sales" in by_asset["raw_orders"] and "data-team" in by_asset["raw_orders"]
    assert "(2026-01-03)" in by_asset["raw_orders"]
    assert "never" in by_asset["stg_orders"]
    assert "raw_orders, customers" in by_asset["stg_orders"]
    assert "eager" in by_asset["stg_orders"]


def test_asset_details_show_partition_status_compactly_and_the_metadata_history(proj: Proj) -> None:
    assert proj.invoke("backfill", "stg_orders", "--start", "2026-01-01", "--end", "2026-01-04").exit_code == 0

    result = proj.invoke("assets", "stg_orders", "--limit", "2")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "partitions   daily partitions from 2026-01-01 (UTC)" in out
    assert "upstream     raw_orders, customers" in out
    assert "  2026-01-01 .. 2026-01-04  fresh        4" in out
    assert "missing" in out and "  total        4 fresh, 0 stale, 0 failed, " in out
    history = out.split("materializations (newest 2)")[1].splitlines()
    assert len([line for line in history if "rows=" in line]) == 2
    assert history[1].split() == ["id", "when", "(UTC)", "partition", "run", "code", "metadata"]
    assert history[2].endswith(" CODE=1") and " rows=" in history[2]


def test_a_newer_upstream_or_changed_code_makes_partitions_stale(proj: Proj) -> None:
    assert proj.invoke("materialize", "stg_orders", "--partition", "2026-01-01..2026-01-03").exit_code == 0
    assert proj.invoke("materialize", "raw_orders", "--partition", "2026-01-02").exit_code == 0

    upstream_newer = proj.invoke("assets", "stg_orders").stdout

    assert "  2026-01-01                fresh        1" in upstream_newer
    assert "  2026-01-02                stale        1" in upstream_newer
    assert "  2026-01-03                fresh        1" in upstream_newer
    assert "stale because: 2026-01-02: raw_orders has a newer materialization" in upstream_newer

    proj.write("assets.py", ASSETS.replace('"CODE": 1', '"CODE": 2'))
    code_changed = proj.invoke("assets", "stg_orders").stdout
    assert "  2026-01-01 .. 2026-01-03  stale        3" in code_changed
    assert "code changed" in code_changed


def test_lineage_prints_upstream_and_downstream_with_reported_datasets(proj: Proj) -> None:
    assert proj.invoke("materialize", "stg_orders", "--partition", "2026-01-01").exit_code == 0
    assert proj.invoke("run", "exports").exit_code == 0

    result = proj.invoke("assets", "--lineage", "stg_orders")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "stg_orders  (daily partitions from 2026-01-01 (UTC))",
        "  writes warehouse.stg_orders  (read by exports.export)",
        "  upstream",
        "    raw_orders  (daily partitions from 2026-01-01 (UTC))",
        "      reads api:orders",
        "      writes file:landing/2026-01-01.csv",
        "    customers  (unpartitioned)",
        "  downstream",
        "    orders_monthly  (monthly partitions from 2026-01 (UTC))",
    ]


# -- backfill -------------------------------------------------------------------------------------


def test_backfill_of_an_asset_materializes_each_partition_once_upstream_first(proj: Proj) -> None:
    result = proj.invoke("backfill", "stg_orders", "--start", "2026-01-01", "--end", "2026-01-05", "--parallelism", "2")

    assert result.exit_code == 0, result.output
    assert (
        "backfill " in result.stdout
        and " of asset stg_orders: 5 partition(s) 2026-01-01 .. 2026-01-05" in result.stdout
    )
    assert "plan: 6 run(s) in 2 wave(s), 2 at a time" in result.stdout
    assert "  materialized 5" in result.stdout
    days = [f"2026-01-0{d}" for d in range(1, 6)]
    assert Counter(proj.calls()) == Counter(
        ["customers None", *(f"raw_orders {d}" for d in days), *(f"stg_orders {d}" for d in days)]
    )
    store = proj.store()
    try:
        runs = store.list_runs("assets", limit=100)
    finally:
        store.close()
    assert {(r.lane, r.trigger, r.state) for r in runs} == {("backfill", "backfill", "success")}
    assert sorted(r.partition_key or "" for r in runs) == ["", *days]


def test_backfill_skip_existing_and_dry_run(proj: Proj) -> None:
    assert proj.invoke("materialize", "stg_orders", "--partition", "2026-01-02").exit_code == 0

    dry = proj.invoke("backfill", "stg_orders", "--start", "2026-01-01", "--end", "2026-01-03", "--dry-run")
    skip_dry = proj.invoke(
        "backfill", "stg_orders", "--start", "2026-01-01", "--end", "2026-01-03", "--skip-existing", "--dry-run"
    )
    before = proj.calls()
    result = proj.invoke("backfill", "stg_orders", "--start", "2026-01-01", "--end", "2026-01-03", "--skip-existing")
    nothing = proj.invoke("backfill", "stg_orders", "--start", "2026-01-01", "--end", "2026-01-03", "--skip-existing")

    assert dry.stdout.splitlines() == [
        "dry run: nothing is written",
        "backfill of asset stg_orders (daily partitions from 2026-01-01 (UTC))",
        "  partitions 3 partition(s) 2026-01-01 .. 2026-01-03",
        "  --skip-existing would skip 1 partition(s) already materialized: 2026-01-02",
        "plan: 3 run(s) in 1 wave(s), 5 at a time",
        "  2026-01-01  stg_orders  (+ missing upstream raw_orders)",
        "  2026-01-02  stg_orders",
        "  2026-01-03  stg_orders  (+ missing upstream raw_orders)",
    ]
    assert "  skipping   1 partition(s) already materialized: 2026-01-02" in skip_dry.stdout
    assert result.exit_code == 0, result.output
    assert "  skipped      1 (already materialized)" in result.stdout
    assert Counter(proj.calls()[len(before) :]) == Counter(
        ["raw_orders 2026-01-01", "stg_orders 2026-01-01", "raw_orders 2026-01-03", "stg_orders 2026-01-03"]
    )
    assert nothing.exit_code == 0
    assert "nothing to backfill: all 3 partition(s) of stg_orders from 2026-01-01 to 2026-01-03" in nothing.stdout


def test_backfill_with_a_failed_run_exits_1_and_does_not_start_later_waves(proj: Proj) -> None:
    proj.fail_on("2026-01-31")

    result = proj.invoke("backfill", "orders_monthly", "--start", "2026-01", "--end", "2026-02", "-q")

    assert result.exit_code == 1, result.output
    assert "FAILED in" in result.stdout
    assert "  not started  2 run(s) of later waves (a run failed)" in result.stdout
    assert "failed runs (see `headwater history RUN_ID`):" in result.stdout
    assert not any(call.startswith("orders_monthly") for call in proj.calls())


class StopAfter:
    """A progress display that stops the runner after ``n`` finished runs (as Ctrl-C does)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.finished: list[str] = []
        self.runner: AssetBackfillRunner | None = None

    def run_started(self, run: PlannedRun) -> None:
        pass

    def run_finished(self, run: PlannedRun, summary: RunSummary) -> None:
        self.finished.append(run.label)
        if len(self.finished) == self.n and self.runner is not None:
            self.runner.stop()


def test_an_interrupted_asset_backfill_resumes_and_materializes_each_partition_once(
    tmp_path: Path, empty_db_url: str
) -> None:
    proj = Proj(tmp_path / "proj", db=empty_db_url)
    project = proj.project()
    graph = load_asset_graph(project.pipelines_dir)
    store = proj.store()
    try:
        plan = plan_asset_backfill(graph, "stg_orders", "2026-01-01", "2026-01-06", parallelism=1, now=None)
        record = create_asset_backfill(store, plan, now=time.time())
        progress = StopAfter(3)
        runner = AssetBackfillRunner(
            project, graph, record, store=store, executor=load_executor("inline"), progress=progress
        )
        progress.runner = runner
        outcome = runner.run(lambda done: plan)
        assert not outcome.finished
        assert progress.finished == ["unpartitioned", "2026-01-01", "2026-01-02"]
        assert backfills.get(store, record.backfill_id).state == "running"  # type: ignore[union-attr]
        dry = proj.invoke("backfill", "stg_orders", "--start", "2026-01-01", "--end", "2026-01-06", "--dry-run")
        assert f"an unfinished backfill {record.backfill_id} of this range exists" in dry.stdout
        assert "  done       2 partition(s) materialized by the unfinished backfill" in dry.stdout
    finally:
        store.close()

    result = proj.invoke("backfill", "stg_orders", "--start", "2026-01-01", "--end", "2026-01-06")

    assert result.exit_code == 0, result.output
    assert f"resuming backfill {record.backfill_id} of asset stg_orders" in result.stdout
    days = [f"2026-01-0{d}" for d in range(1, 7)]
    assert Counter(proj.calls()) == Counter(
        ["customers None", *(f"raw_orders {d}" for d in days), *(f"stg_orders {d}" for d in days)]
    )
    store = proj.store()
    try:
        assert backfills.get(store, record.backfill_id).state == "success"  # type: ignore[union-attr]
        with store.engine.connect() as conn:
            assert len(conn.execute(select(t.backfills)).all()) == 1  # resumed, not started over
        assert {k for k, v in store_states(store)("stg_orders").items() if v == "materialized"} == set(days)
    finally:
        store.close()


def test_a_pipeline_id_wins_over_an_asset_key_unless_asset_is_given(proj: Proj) -> None:
    proj.write(
        "clash.py",
        """
        from headwater import Pipeline, task

        @task
        def noop():
            pass

        with Pipeline("raw_orders", schedule="@daily", start_date="2026-01-01"):
            noop()
        """,
    )

    as_pipeline = proj.invoke("backfill", "raw_orders", "--start", "2026-01-01", "--end", "2026-01-02", "--dry-run")
    as_asset = proj.invoke(
        "backfill", "raw_orders", "--asset", "--start", "2026-01-01", "--end", "2026-01-02", "--dry-run"
    )

    assert "backfill of raw_orders, schedule '@daily'" in as_pipeline.stdout
    assert "backfill of asset raw_orders (daily partitions" in as_asset.stdout
