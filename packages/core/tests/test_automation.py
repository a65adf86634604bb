"""Auto-materialization: eager (debounced, coalesced) and on_cron, nothing twice for one upstream state."""

from __future__ import annotations

import os
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from headwater.config.settings import Project, load_project
from headwater.engine.asset_runs import run_asset_now
from headwater.engine.automation import (
    AutoMaterializer,
    Needed,
    auto_run_id,
    debounce_due,
    needs_run,
    state_of,
)
from headwater.engine.clock import FakeClock
from headwater.engine.scheduler import Scheduler, SchedulerOptions
from headwater.executors.inline import InlineExecutor
from headwater.loader.assets import AssetGraph, load_asset_graph
from headwater.model.pipeline import Pipeline
from headwater.store import assets as sa
from headwater.store import tables as t
from headwater.store.automation import AutomationState
from headwater.store.database import connect
from headwater.store.records import RunRecord
from headwater.store.repository import Store

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC).timestamp()

EAGER = """
from headwater import asset

@asset
def raw():
    return 1

@asset(auto="eager", debounce="60s")
def clean(raw):
    return raw + 1
"""

CHAIN = """
from headwater import asset

@asset
def raw():
    return 1

@asset(auto="eager", debounce="60s")
def a(raw):
    return raw + 1

@asset(auto="eager", debounce="60s")
def b(a, raw):
    return a + raw
"""

PARTITIONED = """
from headwater import DailyPartitions, MonthlyPartitions, asset

DAILY = DailyPartitions(start="2026-03-01")

@asset(partitions=DAILY)
def raw_orders(ctx):
    return 10

@asset(partitions=DAILY, auto="eager", debounce="30s")
def stg_orders(ctx, raw_orders):
    return raw_orders * 2

@asset(partitions=MonthlyPartitions(start="2026-02-01"), auto="eager", debounce="30s")
def monthly(stg_orders):
    return sum(stg_orders.values())
"""

ON_CRON = """
from headwater import asset

@asset
def raw():
    return 1

@asset(auto="on_cron", cron="0 * * * *")
def report(raw):
    return raw

@asset(auto="on_cron", cron="0 * * * *")
def heartbeat():
    return "tick"
"""

FLAKY = """
from pathlib import Path
from headwater import asset

FLAG = Path(__file__).resolve().parent.parent / "fail"

@asset
def raw():
    return 1

@asset(auto="eager", debounce="10s")
def flaky(raw):
    if FLAG.exists():
        raise RuntimeError("the warehouse is down")
    return raw
"""


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HEADWATER_") and name not in ("HEADWATER_TEST_DB", "HEADWATER_REQUIRE_SERVICES"):
            monkeypatch.delenv(name)


@dataclass
class Env:
    project: Project
    store: Store
    clock: FakeClock

    @property
    def graph(self) -> AssetGraph:
        return load_asset_graph(self.project.pipelines_dir)

    def materialize(self, key: str, partition: str | None = None) -> None:
        """Materialize ``key`` now, as `headwater materialize` would (its own clock: the engine may move it)."""
        summary = run_asset_now(
            self.project,
            self.graph,
            [key],
            partition,
            store=self.store,
            executor=InlineExecutor(),
            clock=FakeClock(self.clock.now()),
        )
        assert summary.ok, summary

    def scheduler(self) -> Scheduler:
        options = SchedulerOptions(tick=3600.0, parse_interval=3600.0, lease_ttl=7200.0)
        return Scheduler(self.project, store=self.store, executor=InlineExecutor(), clock=self.clock, options=options)

    def auto_runs(self) -> list[RunRecord]:
        return sorted(
            (r for r in self.store.list_runs(limit=500) if r.trigger == "auto"),
            key=lambda r: (r.created_at or datetime.min.replace(tzinfo=UTC), r.run_id),
        )


def _env(root: Path, source: str, db: str = "sqlite:///.headwater/hw.db") -> Env:
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "headwater.toml").write_text(f'db = "{db}"\nexecutor = "inline"\n', encoding="utf-8")
    (root / "pipelines" / "assets.py").write_text(textwrap.dedent(source), encoding="utf-8")
    project = load_project(root, environ={})
    return Env(project, Store(connect(project.settings.db, base_dir=project.root)), FakeClock(T0))


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[list[Env]]:
    made: list[Env] = []
    yield made
    for env in made:
        env.store.close()


def _drain(*schedulers: Scheduler) -> None:
    """Step until no run is in flight or waiting (bounded); time does not move."""
    for _ in range(50):
        for scheduler in schedulers:
            scheduler.step()
            for item in list(scheduler.active.values()):
                item.thread.join(30)
        if all(s.idle() for s in schedulers):
            for scheduler in schedulers:
                scheduler.step()  # reap
            return
    raise AssertionError("the schedulers did not become idle")


# -- the rules, as pure functions ---------------------------------------------------------------------


def test_debounce_waits_for_quiet_but_at_most_five_periods_after_the_first_change() -> None:
    first = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
    quiet = AutomationState(asset_key="a", changed_at=first, last_change_at=first + timedelta(seconds=20))
    assert debounce_due(quiet, 60) == first + timedelta(seconds=80)
    busy = AutomationState(asset_key="a", changed_at=first, last_change_at=first + timedelta(seconds=290))
    assert debounce_due(busy, 60) == first + timedelta(seconds=300)
    assert debounce_due(AutomationState(asset_key="a"), 60) is None


def test_the_upstream_state_needs_every_partition_a_value_reads() -> None:
    daily = Needed(["2026-03-01", "2026-03-02"])
    newest = {"stg": {"2026-03-01": 4, "2026-03-02": 9}, "dim": {"": 2}}
    assert state_of({"stg": daily, "dim": Needed([""])}, newest) == {"stg": 9, "dim": 2}
    assert state_of({"stg": Needed(["2026-03-01", "2026-03-03"])}, newest) is None  # a day is missing
    # reading every partition: those materialized so far; ordering-only deps: whatever exists
    assert state_of({"stg": Needed(["2026-03-01", "2026-03-03"], reads_all=True)}, newest) == {"stg": 4}
    assert state_of({"dim": Needed([""]), "new": Needed([""], value=False)}, newest) == {"dim": 2}


def test_a_run_is_needed_only_for_a_state_neither_materialized_nor_requested() -> None:
    row = AutomationState(asset_key="a", requested_state={"raw": 3})
    assert needs_run({"raw": 4}, {"raw": 2}, row)
    assert not needs_run({"raw": 2}, {"raw": 2}, row)  # materialized from it already
    assert not needs_run({"raw": 3}, {"raw": 2}, row)  # requested already
    assert not needs_run(None, None, row)  # an upstream partition is missing
    assert needs_run({}, None, AutomationState(asset_key="a"))  # never materialized


def test_the_run_id_is_derived_from_the_upstream_state() -> None:
    assert auto_run_id("clean", "", {"raw": 3, "dim": 1}) == auto_run_id("clean", "", {"dim": 1, "raw": 3})
    assert auto_run_id("clean", "", {"raw": 3}) != auto_run_id("clean", "", {"raw": 4})
    assert auto_run_id("stg", "2026-03-01T13:00", {"raw": 3}).startswith("assets-auto-stg-2026-03-01T13_00-")


# -- eager ----------------------------------------------------------------------------------------------


def test_ten_upstream_updates_within_a_minute_give_one_downstream_run(tmp_path: Path, make_env: list[Env]) -> None:
    env = _env(tmp_path, EAGER)
    make_env.append(env)
    scheduler = env.scheduler()
    try:
        scheduler.step()
        for _ in range(10):  # one update every 5 s: the quiet period never passes
            env.materialize("raw")
            wait = scheduler.step()
            assert wait == pytest.approx(60.0)  # the scheduler wakes when the debounce ends
            env.clock.advance(5)
        assert env.auto_runs() == []
        env.clock.advance(56)  # 60 s after the last update
        _drain(scheduler)
        [run] = env.auto_runs()
        assert run.state == "success" and run.pipeline_id == "assets"
        newest_raw = sa.latest_materializations(env.store, ["raw"])["raw"]
        clean = sa.latest_materializations(env.store, ["clean"])["clean"]
        assert clean.run_id == run.run_id and clean.upstream == {"raw": newest_raw.id}  # the newest data
        # nothing changed upstream: however long we wait, no second run
        for _ in range(3):
            env.clock.advance(600)
            _drain(scheduler)
        assert len(env.auto_runs()) == 1
    finally:
        scheduler.shutdown()


def test_a_steady_stream_of_updates_is_materialized_five_debounce_periods_after_the_first(
    tmp_path: Path, make_env: list[Env]
) -> None:
    env = _env(tmp_path, EAGER)
    make_env.append(env)
    scheduler = env.scheduler()
    try:
        scheduler.step()
        start = env.clock.now()
        while env.clock.now() < start + 300:
            env.materialize("raw")
            scheduler.step()
            assert env.auto_runs() == []
            env.clock.advance(30)  # never 60 s quiet
        _drain(scheduler)
        assert len(env.auto_runs()) == 1
    finally:
        scheduler.shutdown()


def test_an_up_to_date_asset_is_not_materialized_again_by_a_new_scheduler(tmp_path: Path, make_env: list[Env]) -> None:
    env = _env(tmp_path, EAGER)
    make_env.append(env)
    env.materialize("raw")
    env.materialize("clean")  # by hand, from the current raw
    scheduler = env.scheduler()  # a fresh scheduler looks at every eager asset once
    try:
        for _ in range(3):
            _drain(scheduler)
            env.clock.advance(120)
        assert env.auto_runs() == []
    finally:
        scheduler.shutdown()


def test_a_missing_eager_asset_is_materialized_when_the_scheduler_starts(tmp_path: Path, make_env: list[Env]) -> None:
    env = _env(tmp_path, EAGER)
    make_env.append(env)
    env.materialize("raw")  # while no scheduler was running
    scheduler = env.scheduler()
    try:
        _drain(scheduler)
        assert env.auto_runs() == []  # debounced like any change
        env.clock.advance(60)
        _drain(scheduler)
        assert [r.state for r in env.auto_runs()] == ["success"]
    finally:
        scheduler.shutdown()


def test_a_chain_of_eager_assets_materializes_each_once(tmp_path: Path, make_env: list[Env]) -> None:
    env = _env(tmp_path, CHAIN)
    make_env.append(env)
    scheduler = env.scheduler()
    try:
        scheduler.step()
        env.materialize("raw")
        _drain(scheduler)
        env.clock.advance(60)
        _drain(scheduler)  # a runs; b (reading raw too) waits for a instead of running on the old a
        assert [(r.run_id.split("-")[2], r.state) for r in env.auto_runs()] == [("a", "success")]
        env.clock.advance(60)
        _drain(scheduler)
        for _ in range(3):
            env.clock.advance(300)
            _drain(scheduler)
        assert [r.run_id.split("-")[2] for r in env.auto_runs()] == ["a", "b"]
        latest = sa.latest_materializations(env.store, ["raw", "a", "b"])
        assert latest["b"].upstream == {"a": latest["a"].id, "raw": latest["raw"].id}
    finally:
        scheduler.shutdown()


def test_eager_partitions_follow_their_upstream_partitions(tmp_path: Path, make_env: list[Env]) -> None:
    env = _env(tmp_path, PARTITIONED)
    make_env.append(env)
    env.clock.current = datetime(2026, 3, 3, 9, 0, tzinfo=UTC).timestamp()
    scheduler = env.scheduler()
    try:
        scheduler.step()
        env.materialize("raw_orders", "2026-03-01")
        env.materialize("raw_orders", "2026-03-02")
        _drain(scheduler)
        env.clock.advance(30)
        _drain(scheduler)
        runs = env.auto_runs()
        assert sorted((r.partition_key, r.state) for r in runs) == [
            ("2026-03-01", "success"),
            ("2026-03-02", "success"),
        ]
        # the monthly rollup waits until every day of March has been materialized
        env.clock.advance(600)
        _drain(scheduler)
        assert len(env.auto_runs()) == 2
        assert sorted(sa.partition_states(env.store, "stg_orders")) == ["2026-03-01", "2026-03-02"]
        assert sa.partition_states(env.store, "monthly") == {}
    finally:
        scheduler.shutdown()


def test_a_failed_automatic_run_is_not_requested_again_for_the_same_upstream_state(
    tmp_path: Path, make_env: list[Env]
) -> None:
    env = _env(tmp_path, FLAKY)
    make_env.append(env)
    (tmp_path / "fail").touch()
    scheduler = env.scheduler()
    try:
        scheduler.step()
        env.materialize("raw")
        _drain(scheduler)
        env.clock.advance(10)
        _drain(scheduler)
        assert [r.state for r in env.auto_runs()] == ["failed"]
        for _ in range(3):
            env.clock.advance(120)
            _drain(scheduler)
        assert len(env.auto_runs()) == 1  # no retry storm: the next upstream change tries again
        (tmp_path / "fail").unlink()
        env.materialize("raw")
        _drain(scheduler)
        env.clock.advance(10)
        _drain(scheduler)
        assert [r.state for r in env.auto_runs()] == ["failed", "success"]
    finally:
        scheduler.shutdown()


# -- several schedulers ---------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of its own (the automation cursor and asset keys must not leak between tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return str(request.getfixturevalue("postgres_server").create_database())


def test_two_schedulers_on_one_database_request_one_run(tmp_path: Path, fresh_db: str, make_env: list[Env]) -> None:
    env = _env(tmp_path, EAGER, db=fresh_db)
    make_env.append(env)
    first, second = env.scheduler(), env.scheduler()
    try:
        first.step()
        second.step()
        env.materialize("raw")
        first.step()
        second.step()
        env.clock.advance(60)
        # both find the change due at the same moment
        barrier = threading.Barrier(2)

        def check(scheduler: Scheduler) -> None:
            assert scheduler.automation is not None
            barrier.wait()
            scheduler.automation.check(*_graph_of(scheduler), env.clock.now(), pipeline=_pipeline_of(scheduler))

        threads = [threading.Thread(target=check, args=(s,)) for s in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        _drain(first, second)
        assert [r.state for r in env.auto_runs()] == ["success"]
    finally:
        first.shutdown()
        second.shutdown()


def test_a_request_lost_before_it_was_noted_is_not_repeated(tmp_path: Path, fresh_db: str, make_env: list[Env]) -> None:
    """The run id names the upstream state: a scheduler that crashed after creating the run and before
    noting it leaves a request that another scheduler finds already made."""
    env = _env(tmp_path, EAGER, db=fresh_db)
    make_env.append(env)
    first = AutoMaterializer(env.store)  # creates runs, drives none
    first.check(env.graph, env.clock.now())
    env.materialize("raw")
    first.check(env.graph, env.clock.now())
    env.clock.advance(60)
    first.check(env.graph, env.clock.now())
    [run] = env.auto_runs()
    assert run.state == "queued"
    with env.store.engine.begin() as conn:  # forget the note, as if the process died before writing it
        conn.execute(delete(t.asset_automation))
    second = AutoMaterializer(env.store)  # another scheduler finds the change due as well
    second.check(env.graph, env.clock.now())
    env.clock.advance(60)
    second.check(env.graph, env.clock.now())
    assert [(r.run_id, r.created) for r in second.requests] == [(run.run_id, False)]
    scheduler = env.scheduler()
    try:
        _drain(scheduler)
        assert [(r.run_id, r.state) for r in env.auto_runs()] == [(run.run_id, "success")]
    finally:
        scheduler.shutdown()


def _graph_of(scheduler: Scheduler) -> tuple[AssetGraph]:
    assets = scheduler._asset_graph()
    assert assets is not None
    return (assets[1],)


def _pipeline_of(scheduler: Scheduler) -> Pipeline:
    assets = scheduler._asset_graph()
    assert assets is not None
    return assets[0]


# -- on_cron --------------------------------------------------------------------------------------------


def test_on_cron_materializes_at_a_tick_only_when_the_upstream_changed(tmp_path: Path, make_env: list[Env]) -> None:
    env = _env(tmp_path, ON_CRON)
    make_env.append(env)
    env.clock.current = datetime(2026, 3, 4, 10, 30, tzinfo=UTC).timestamp()
    scheduler = env.scheduler()

    def reports() -> list[RunRecord]:
        return [r for r in env.auto_runs() if "-report-" in r.run_id]

    try:
        wait = scheduler.step()
        assert wait == pytest.approx(1800.0)  # the scheduler wakes at the next tick, 11:00
        _drain(scheduler)
        assert reports() == []  # the 10:00 tick: raw was never materialized
        env.clock.advance(600)
        env.materialize("raw")
        _drain(scheduler)
        assert reports() == []  # not a tick
        env.clock.current = datetime(2026, 3, 4, 11, 0, tzinfo=UTC).timestamp()
        _drain(scheduler)
        assert [r.state for r in reports()] == ["success"]
        env.clock.current = datetime(2026, 3, 4, 12, 0, tzinfo=UTC).timestamp()
        _drain(scheduler)
        assert len(reports()) == 1  # unchanged since: nothing at 12:00
        env.materialize("raw")
        env.clock.current = datetime(2026, 3, 4, 13, 0, tzinfo=UTC).timestamp()
        _drain(scheduler)
        assert [r.state for r in reports()] == ["success", "success"]
        # an on_cron asset without upstream assets is materialized at every tick (10:00 .. 13:00), once each
        ticks = [r for r in env.auto_runs() if "-heartbeat-" in r.run_id]
        assert len(ticks) == 4 and len({r.run_id for r in ticks}) == 4
    finally:
        scheduler.shutdown()


def test_a_scheduler_without_auto_assets_does_no_automation_work(tmp_path: Path, make_env: list[Env]) -> None:
    env = _env(tmp_path, EAGER.replace('auto="eager", ', ""))
    make_env.append(env)
    automation = AutoMaterializer(env.store)
    assert automation.check(env.graph, env.clock.now()) is None
    env.materialize("raw")
    assert automation.check(env.graph, env.clock.now()) is None
    assert env.auto_runs() == []
