"""Assets in the engine: values flow, materializations and partition states recorded, lineage, resume."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from headwater.config.settings import Project, load_project
from headwater.engine.asset_runs import queue_asset_run, run_asset_now
from headwater.engine.clock import FakeClock
from headwater.engine.launch import run_pipeline
from headwater.engine.listener import RunSummary
from headwater.errors import DefinitionError, UsageError
from headwater.executors.base import TaskSubmission
from headwater.executors.inline import InlineExecutor
from headwater.loader.assets import AssetGraph, load_asset_graph
from headwater.loader.project import find_pipeline
from headwater.store import assets as sa
from headwater.store import tables as t
from headwater.store.database import connect
from headwater.store.repository import Store

ORDERS = """
from pathlib import Path
from headwater import DailyPartitions, Materialization, MonthlyPartitions, asset

DAILY = DailyPartitions(start="2026-03-01", end="2026-03-03")
FLAGS = Path(__file__).resolve().parent.parent / "flags"

@asset(partitions=DAILY, owner="ingest")
def raw_orders(ctx):
    \"\"\"Orders as landed.\"\"\"
    ctx.report_lineage(writes=["raw.orders"])
    return [{"day": ctx.partition, "amount": n} for n in (10, 20, 30)]

@asset(partitions=DAILY, retries=3, retry_delay=0)
def stg_orders(ctx, raw_orders):
    if (FLAGS / "fail_stg").exists():
        raise RuntimeError("staging database is down")
    ctx.report_lineage(reads=["raw.orders"], writes=["staging.orders"])
    total = sum(row["amount"] for row in raw_orders)
    window = [ctx.data_interval.start.isoformat(), ctx.data_interval.end.isoformat()]
    return Materialization(total, metadata={"rows": len(raw_orders), "window": window, "partition": ctx.partition})

@asset(partitions=MonthlyPartitions(start="2026-03-01"))
def monthly_revenue(stg_orders):
    return {"days": sorted(stg_orders), "total": sum(stg_orders.values())}

@asset
def order_count(ctx, raw_orders):
    return sum(len(rows) for rows in raw_orders.values())
"""


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HEADWATER_") and name not in ("HEADWATER_TEST_DB", "HEADWATER_REQUIRE_SERVICES"):
            monkeypatch.delenv(name)


def _project(root: Path, files: dict[str, str], db: str = "sqlite:///.headwater/hw.db") -> Project:
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "flags").mkdir(exist_ok=True)
    (root / "headwater.toml").write_text(f'db = "{db}"\nexecutor = "inline"\n', encoding="utf-8")
    for name, source in files.items():
        (root / "pipelines" / name).write_text(textwrap.dedent(source), encoding="utf-8")
    return load_project(root, environ={})


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return _project(tmp_path, {"orders.py": ORDERS})


@pytest.fixture
def store(project: Project) -> Iterator[Store]:
    s = Store(connect(project.settings.db, base_dir=project.root))
    yield s
    s.close()


def _run(project: Project, store: Store, keys: list[str], partition: str | None) -> RunSummary:
    graph = load_asset_graph(project.pipelines_dir)
    return run_asset_now(project, graph, keys, partition, store=store, executor=InlineExecutor(), clock=FakeClock())


def test_values_flow_and_each_materialization_is_recorded_with_its_metadata(tmp_path: Path, db_url: str) -> None:
    project = _project(tmp_path, {"orders.py": ORDERS}, db=db_url)
    store = Store(connect(project.settings.db, base_dir=project.root))
    try:
        summary = _run(project, store, ["stg_orders", "raw_orders"], "2026-03-02")
        assert summary.ok, summary
        run = store.get_run(summary.run_id)
        assert run is not None and run.pipeline_id == "assets" and run.partition_key == "2026-03-02"
        # the partition's window is the run's data interval and logical date
        assert (run.interval_start, run.interval_end) == (
            datetime(2026, 3, 2, tzinfo=UTC),
            datetime(2026, 3, 3, tzinfo=UTC),
        )
        assert run.logical_date == datetime(2026, 3, 2, tzinfo=UTC)
        latest = sa.latest_materializations(store, ["raw_orders", "stg_orders", "monthly_revenue"])
        assert set(latest) == {"raw_orders", "stg_orders"}
        raw, stg = latest["raw_orders"], latest["stg_orders"]
        assert stg.metadata == {
            "rows": 3,
            "window": ["2026-03-02T00:00:00+00:00", "2026-03-03T00:00:00+00:00"],
            "partition": "2026-03-02",
        }
        assert stg.result is not None and stg.result.value == "60"  # the value, not the Materialization
        assert stg.upstream == {"raw_orders": raw.id}  # which upstream materialization it was built from
        assert (stg.partition_key, stg.run_id, stg.pipeline_id) == ("2026-03-02", run.run_id, "assets")
        assert stg.code_version == load_asset_graph(project.pipelines_dir).assets["stg_orders"].code_version
        states = sa.partition_states(store, "stg_orders")
        assert list(states) == ["2026-03-02"]
        assert (states["2026-03-02"].state, states["2026-03-02"].materialization_id) == ("materialized", stg.id)
        assert store.results(run.run_id)["stg_orders"] == ("json", "60")
    finally:
        store.close()


def test_an_upstream_asset_not_in_the_run_is_read_from_its_newest_materialization(
    project: Project, store: Store
) -> None:
    assert _run(project, store, ["raw_orders"], "2026-03-01").ok
    assert _run(project, store, ["raw_orders"], "2026-03-01").ok  # a newer materialization of the same partition
    summary = _run(project, store, ["stg_orders"], "2026-03-01")
    assert summary.ok
    assert [t.task_id for t in summary.tasks] == ["stg_orders"]
    newest_raw = sa.materialization_history(store, "raw_orders", "2026-03-01", limit=1)[0]
    stg = sa.materialization_history(store, "stg_orders")[0]
    assert stg.upstream == {"raw_orders": newest_raw.id}
    assert stg.result is not None and stg.result.value == "60"
    assert sa.newest_ids(store, ["raw_orders", "stg_orders"]) == {
        ("raw_orders", "2026-03-01"): newest_raw.id,
        ("stg_orders", "2026-03-01"): stg.id,
    }


def test_a_monthly_asset_receives_a_dict_of_its_months_daily_values(project: Project, store: Store) -> None:
    for day in ("2026-03-01", "2026-03-02", "2026-03-03"):
        assert _run(project, store, ["raw_orders", "stg_orders"], day).ok
    summary = _run(project, store, ["monthly_revenue"], "2026-03")
    assert summary.ok, summary
    month = sa.latest_materializations(store, ["monthly_revenue"])["monthly_revenue"]
    assert month.result is not None
    import json

    assert json.loads(month.result.value) == {"days": ["2026-03-01", "2026-03-02", "2026-03-03"], "total": 180}
    days = sa.newest_ids(store, ["stg_orders"])
    assert month.upstream == {"stg_orders": max(days.values())}
    run = store.get_run(summary.run_id)
    assert run is not None and (run.interval_start, run.interval_end) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )


def test_an_unpartitioned_asset_reads_the_materialized_partitions_of_its_upstream(
    project: Project, store: Store
) -> None:
    for day in ("2026-03-01", "2026-03-03"):
        assert _run(project, store, ["raw_orders"], day).ok
    summary = _run(project, store, ["order_count"], None)
    assert summary.ok, summary
    count = sa.latest_materializations(store, ["order_count"])["order_count"]
    assert count.result is not None and count.result.value == "6"
    assert count.partition_key == ""
    assert list(sa.partition_states(store, "order_count")) == [""]


def test_a_never_materialized_upstream_partition_fails_the_asset_at_once(project: Project, store: Store) -> None:
    summary = _run(project, store, ["stg_orders"], "2026-03-02")
    assert summary.state == "failed"
    stg = summary.task("stg_orders")
    assert stg.tries == 0  # never ran, and not retried despite retries=3
    assert stg.error == (
        "upstream asset 'raw_orders' partition 2026-03-02 has never been materialized: "
        "run `headwater materialize raw_orders --partition 2026-03-02`"
    )
    assert sa.partition_states(store, "stg_orders")["2026-03-02"].state == "failed"
    assert sa.latest_materializations(store, ["stg_orders"]) == {}


def test_a_failed_asset_marks_its_partition_failed_and_keeps_its_last_materialization(
    project: Project, store: Store
) -> None:
    assert _run(project, store, ["raw_orders", "stg_orders"], "2026-03-01").ok
    good = sa.partition_states(store, "stg_orders")["2026-03-01"]
    (project.root / "flags" / "fail_stg").touch()
    summary = _run(project, store, ["stg_orders"], "2026-03-01")
    assert summary.state == "failed"
    assert summary.task("stg_orders").tries == 4  # retried like any task
    state = sa.partition_states(store, "stg_orders")["2026-03-01"]
    assert (state.state, state.materialization_id, state.run_id) == ("failed", good.materialization_id, summary.run_id)
    assert len(sa.materialization_history(store, "stg_orders")) == 1


def test_lineage_reported_by_tasks_is_recorded_per_run(project: Project, store: Store) -> None:
    summary = _run(project, store, ["raw_orders", "stg_orders"], "2026-03-01")
    rows = {(r.task_id, r.direction, r.dataset) for r in sa.lineage(store, run_id=summary.run_id)}
    assert rows == {
        ("raw_orders", "writes", "raw.orders"),
        ("stg_orders", "reads", "raw.orders"),
        ("stg_orders", "writes", "staging.orders"),
    }
    readers = {r.task_id for r in sa.lineage(store, dataset="raw.orders") if r.direction == "reads"}
    assert readers == {"stg_orders"}


def test_bad_selections_are_refused_before_anything_is_written(project: Project, store: Store) -> None:
    graph = load_asset_graph(project.pipelines_dir)
    with pytest.raises(DefinitionError, match=r"partition '2026-13-01' is not in daily partitions"):
        queue_asset_run(store, graph, ["raw_orders"], "2026-13-01", trigger="manual", now=0.0)
    with pytest.raises(UsageError, match=r"is partitioned .*--partition"):
        queue_asset_run(store, graph, ["raw_orders"], None, trigger="manual", now=0.0)
    with pytest.raises(UsageError, match="not partitioned: drop --partition"):
        queue_asset_run(store, graph, ["order_count"], "2026-03-01", trigger="manual", now=0.0)
    with pytest.raises(UsageError, match="different partitions"):
        queue_asset_run(store, graph, ["raw_orders", "monthly_revenue"], "2026-03", trigger="manual", now=0.0)
    with pytest.raises(DefinitionError, match="unknown asset 'raw_order' \\(did you mean 'raw_orders'"):
        queue_asset_run(store, graph, ["raw_order"], "2026-03-01", trigger="manual", now=0.0)
    assert store.list_runs() == []


MIXED = """
from headwater import Pipeline, asset, task

@asset
def landing():
    return [3, 4]

@asset
def cleaned(ctx, landing):
    ctx.add_metadata(kept=len(landing))
    return [x * 10 for x in landing]

@task
def check_source(ctx):
    ctx.report_lineage(reads=["s3://landing/"])
    return "ok"

@task
def publish(rows, status):
    return {"published": sum(rows), "status": status}

with Pipeline("mixed") as p:
    status = check_source()
    rows = cleaned()
    status >> rows
    publish(rows, status)
"""


def test_an_asset_inside_a_pipeline_runs_between_plain_tasks_and_reads_external_upstreams(tmp_path: Path) -> None:
    project = _project(tmp_path, {"mixed.py": MIXED})
    graph = load_asset_graph(project.pipelines_dir)
    assert set(graph.assets) == {"landing", "cleaned"}
    store = Store(connect(project.settings.db, base_dir=project.root))
    try:
        assert run_asset_now(project, graph, ["landing"], None, store=store, executor=InlineExecutor()).ok
        pipeline = find_pipeline(project, "mixed")
        assert pipeline.upstream["cleaned"] == {"check_source"}  # `landing` is not a task of this pipeline
        summary = run_pipeline(project, pipeline, store=store, executor=InlineExecutor())
        assert summary.ok, summary
        assert [t.task_id for t in summary.tasks] == ["check_source", "cleaned", "publish"]
        import json

        assert json.loads(store.results(summary.run_id)["publish"][1]) == {"published": 70, "status": "ok"}
        cleaned = sa.latest_materializations(store, ["cleaned"])["cleaned"]
        assert (cleaned.pipeline_id, cleaned.run_id, cleaned.metadata) == ("mixed", summary.run_id, {"kept": 2})
        landing = sa.latest_materializations(store, ["landing"])["landing"]
        assert cleaned.upstream == {"landing": landing.id}
        assert [(r.task_id, r.dataset) for r in sa.lineage(store, pipeline_id="mixed")] == [
            ("check_source", "s3://landing/")
        ]
    finally:
        store.close()


class _CrashOn(InlineExecutor):
    """Runs tries inline, but the process 'dies' when asked to run ``task_id``."""

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id

    def submit(self, submission: TaskSubmission) -> None:
        if submission.key.task_id == self.task_id:
            raise SystemExit("the machine lost power")
        super().submit(submission)


def test_the_scheduler_resumes_an_interrupted_assets_run_with_the_same_assets(project: Project, store: Store) -> None:
    from headwater.engine.scheduler import Scheduler, SchedulerOptions

    graph: AssetGraph = load_asset_graph(project.pipelines_dir)
    start = datetime(2026, 3, 5, tzinfo=UTC).timestamp()
    with pytest.raises(SystemExit):
        run_asset_now(
            project,
            graph,
            ["raw_orders", "stg_orders"],
            "2026-03-01",
            store=store,
            executor=_CrashOn("stg_orders"),
            clock=FakeClock(start),
        )
    [run] = store.list_runs()
    assert run.state == "running"
    scheduler = Scheduler(
        project,
        store=store,
        executor=InlineExecutor(),
        clock=FakeClock(start + 3600),  # the crashed driver's lease has long expired
        options=SchedulerOptions(lease_ttl=30),
    )
    try:
        for _ in range(50):
            scheduler.step()
            for item in list(scheduler.active.values()):
                item.thread.join(30)
            if scheduler.idle():
                scheduler.step()
                break
        assert "assets" in scheduler.known
        [(finished, summary)] = scheduler.finished
        assert finished.run_id == run.run_id and summary.ok
        assert sorted(t.task_id for t in summary.tasks) == ["raw_orders", "stg_orders"]  # not the whole graph
        with store.engine.connect() as conn:
            tis = conn.execute(select(t.task_instances.c.task_id).where(t.task_instances.c.run_id == run.run_id)).all()
        assert sorted(r[0] for r in tis) == ["raw_orders", "stg_orders"]
        assert len(sa.materialization_history(store, "raw_orders")) == 1  # what succeeded did not run again
        stg = sa.latest_materializations(store, ["stg_orders"])["stg_orders"]
        assert stg.upstream == {"raw_orders": sa.latest_materializations(store, ["raw_orders"])["raw_orders"].id}
    finally:
        scheduler.shutdown()


def test_a_queued_assets_run_is_taken_by_the_scheduler(project: Project, store: Store) -> None:
    from headwater.engine.scheduler import Scheduler

    graph = load_asset_graph(project.pipelines_dir)
    record = queue_asset_run(store, graph, ["raw_orders"], "2026-03-03", trigger="auto", now=FakeClock().now())
    assert (record.state, record.lease_owner, record.partition_key) == ("queued", None, "2026-03-03")
    scheduler = Scheduler(project, store=store, executor=InlineExecutor(), clock=FakeClock())
    try:
        for _ in range(20):
            scheduler.step()
            for item in list(scheduler.active.values()):
                item.thread.join(30)
            if scheduler.idle():
                break
        run = store.get_run(record.run_id)
        assert run is not None and run.state == "success" and run.trigger == "auto"
        assert list(sa.partition_states(store, "raw_orders")) == ["2026-03-03"]
        assert sa.partition_states(store, "stg_orders") == {}
    finally:
        scheduler.shutdown()


DAILY_PIPELINE = """
from headwater import DailyPartitions, Pipeline, asset

@asset(partitions=DailyPartitions(start="2026-03-01"))
def day_total(ctx):
    return {"partition": ctx.partition, "start": ctx.data_interval.start.isoformat()}

with Pipeline("daily_totals"):
    day_total()
"""


def test_headwater_run_passes_a_checked_partition_to_the_run(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from headwater.cli.app import cli

    project = _project(tmp_path, {"daily.py": DAILY_PIPELINE})
    runner = CliRunner()
    bad = runner.invoke(cli, ["--project", str(project.root), "run", "daily_totals", "--partition", "2026-02-30"])
    assert bad.exit_code == 2, bad.output
    assert "partition '2026-02-30' is not in daily partitions from 2026-03-01" in bad.output
    assert not (project.root / ".headwater" / "hw.db").exists()  # nothing written
    good = runner.invoke(
        cli, ["--project", str(project.root), "run", "daily_totals", "--partition", "2026-03-04", "-q"]
    )
    assert good.exit_code == 0, good.output
    store = Store(connect(project.settings.db, base_dir=project.root))
    try:
        [run] = store.list_runs()
        assert (run.partition_key, run.interval_start) == ("2026-03-04", datetime(2026, 3, 4, tzinfo=UTC))
        value = sa.latest_materializations(store, ["day_total"])["day_total"]
        assert value.partition_key == "2026-03-04" and value.pipeline_id == "daily_totals"
        assert value.result is not None and '"partition":"2026-03-04"' in value.result.value
    finally:
        store.close()


def test_the_scheduler_sees_an_asset_added_to_a_file_and_keeps_the_graph_while_nothing_changes(
    project: Project, store: Store
) -> None:
    import os

    from headwater.engine.scheduler import Scheduler
    from headwater.model.pipeline import ASSETS_PIPELINE_ID

    clock = FakeClock()
    scheduler = Scheduler(project, store=store, executor=InlineExecutor(), clock=clock)
    try:
        scheduler.step()
        before = scheduler.known[ASSETS_PIPELINE_ID].pipeline
        assert "extra" not in before.tasks
        clock.advance(scheduler.options.parse_interval + 1)
        scheduler.step()  # no file changed: the same assets pipeline, not a rebuilt one
        assert scheduler.known[ASSETS_PIPELINE_ID].pipeline is before
        extra = project.pipelines_dir / "extra.py"
        extra.write_text("from headwater import asset\n\n@asset\ndef extra():\n    return 1\n", encoding="utf-8")
        os.utime(extra, (1, 1))
        clock.advance(scheduler.options.parse_interval + 1)
        scheduler.step()
        assert "extra" in scheduler.known[ASSETS_PIPELINE_ID].pipeline.tasks
    finally:
        scheduler.shutdown()
