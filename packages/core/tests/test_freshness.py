"""Freshness in the scheduler: violations recorded and alerted once, per partition, with an injected clock."""

from __future__ import annotations

import os
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headwater.config.settings import Project, load_project
from headwater.engine.asset_runs import run_asset_now
from headwater.engine.clock import FakeClock
from headwater.engine.freshness import FreshnessWatch, evaluate, newest_ended
from headwater.engine.scheduler import Scheduler, SchedulerOptions
from headwater.executors.inline import InlineExecutor
from headwater.loader.assets import load_asset_graph
from headwater.model.asset import AssetDefinition, asset
from headwater.model.freshness import Freshness
from headwater.model.partitions import DailyPartitions, HourlyPartitions, StaticPartitions
from headwater.plugin.notifier import Alert, AlertKind
from headwater.store.database import connect
from headwater.store.freshness import recent_violations, violation_counts
from headwater.store.repository import Store


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


LAG = """
from headwater import Freshness, asset

@asset(freshness=Freshness(max_lag="2h"))
def orders():
    return 1
"""

CRON = """
from headwater import Freshness, asset

@asset(freshness=Freshness(max_lag="1h", cron="0 8 * * *"))
def report():
    return 1
"""

DAILY = """
from headwater import DailyPartitions, Freshness, asset

@asset(partitions=DailyPartitions(start="2026-03-01"), freshness=Freshness(max_lag="2h"))
def daily_orders(ctx):
    return ctx.partition
"""


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HEADWATER_") and name not in ("HEADWATER_TEST_DB", "HEADWATER_REQUIRE_SERVICES"):
            monkeypatch.delenv(name)


class Alerts:
    """The ``send`` callback: keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []
        self._lock = threading.Lock()

    def __call__(self, alert: Alert) -> None:
        with self._lock:
            self.sent.append(alert)


@dataclass
class Env:
    project: Project
    store: Store

    @property
    def assets(self) -> dict[str, AssetDefinition]:
        return load_asset_graph(self.project.pipelines_dir).assets

    def materialize(self, key: str, at: datetime, partition: str | None = None) -> None:
        graph = load_asset_graph(self.project.pipelines_dir)
        clock = FakeClock(at.timestamp())
        summary = run_asset_now(
            self.project, graph, [key], partition, store=self.store, executor=InlineExecutor(), clock=clock
        )
        assert summary.ok, summary


@pytest.fixture
def env_of(tmp_path: Path) -> Iterator[dict[str, Env]]:
    made: dict[str, Env] = {}
    yield made
    for env in made.values():
        env.store.close()


def _env(made: dict[str, Env], root: Path, source: str) -> Env:
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "headwater.toml").write_text('db = "sqlite:///.headwater/hw.db"\nexecutor = "inline"\n', encoding="utf-8")
    (root / "pipelines" / "assets.py").write_text(textwrap.dedent(source), encoding="utf-8")
    project = load_project(root, environ={})
    env = Env(project, Store(connect(project.settings.db, base_dir=project.root)))
    made[str(root)] = env
    return env


# -- a policy without cron ------------------------------------------------------------------------------


def test_a_late_asset_is_recorded_and_alerted_once_and_fresh_again_after_a_materialization(
    tmp_path: Path, env_of: dict[str, Env]
) -> None:
    env = _env(env_of, tmp_path, LAG)
    alerts = Alerts()
    watch = FreshnessWatch(env.store, alerts)
    t0 = _at("2026-03-04T09:00:00")
    env.materialize("orders", t0)

    # on time: nothing, and the watch asks to be woken when the asset becomes late
    assert watch.check(env.assets, (t0 + timedelta(hours=1)).timestamp()) == (t0 + timedelta(hours=2)).timestamp()
    assert alerts.sent == [] and recent_violations(env.store) == []

    # late: one row, one alert
    watch.check(env.assets, (t0 + timedelta(hours=2, minutes=1)).timestamp())
    [violation] = recent_violations(env.store, "orders")
    assert (violation.partition_key, violation.expected_by) == ("", t0 + timedelta(hours=2))
    assert violation.minutes_late == pytest.approx(1.0) and violation.max_lag == 7200.0
    assert violation.last_materialized_at is not None and abs(violation.last_materialized_at - t0) < timedelta(
        seconds=5
    )
    [alert] = alerts.sent
    assert (alert.kind, alert.pipeline_id, alert.task_id) == (AlertKind.FRESHNESS, "assets", "orders")
    assert alert.message.startswith("asset orders is 2h01m old, over its max lag of 2h (last materialized 2026-03-04")
    assert alert.minutes_late == pytest.approx(1.0)

    # still late on the next pass, and for a second scheduler on the same database: no second alert
    watch.check(env.assets, (t0 + timedelta(hours=2, minutes=30)).timestamp())
    other = Alerts()
    FreshnessWatch(env.store, other).check(env.assets, (t0 + timedelta(hours=2, minutes=31)).timestamp())
    assert len(alerts.sent) == 1 and other.sent == []
    assert len(recent_violations(env.store)) == 1

    # materialized: fresh again, until the new materialization is 2h old
    t3 = t0 + timedelta(hours=3)
    env.materialize("orders", t3)
    watch.check(env.assets, (t3 + timedelta(minutes=1)).timestamp())
    assert watch.statuses[("orders", "")].fresh
    assert len(alerts.sent) == 1
    watch.check(env.assets, (t3 + timedelta(hours=2, minutes=5)).timestamp())
    assert [v.expected_by for v in recent_violations(env.store, "orders")] == [
        t3 + timedelta(hours=2),
        t0 + timedelta(hours=2),
    ]
    assert len(alerts.sent) == 2
    assert violation_counts(env.store, ["orders", "other"]) == {"orders": 2}


def test_a_never_materialized_asset_is_one_violation_however_often_it_is_checked(
    tmp_path: Path, env_of: dict[str, Env]
) -> None:
    env = _env(env_of, tmp_path, LAG)
    alerts = Alerts()
    t0 = _at("2026-03-04T09:00:00")
    watches = [FreshnessWatch(env.store, alerts), FreshnessWatch(env.store, alerts)]
    for minutes in range(0, 300, 30):
        for watch in watches:
            watch.check(env.assets, (t0 + timedelta(minutes=minutes)).timestamp())
    [alert] = alerts.sent  # max_lag after the policy was first checked, then one violation
    assert alert.message == "asset orders has never been materialized, due 2026-03-04 11:00 UTC (max lag 2h)"
    assert [v.expected_by for v in recent_violations(env.store)] == [t0 + timedelta(hours=2)]


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of its own (violations of one test must not be seen by another)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return str(request.getfixturevalue("postgres_server").create_database())


def test_schedulers_checking_at_the_same_moment_alert_once(tmp_path: Path, fresh_db: str) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "headwater.toml").write_text(f'db = "{fresh_db}"\nexecutor = "inline"\n', encoding="utf-8")
    source = LAG + "\n@asset(freshness=Freshness(max_lag='1h'))\ndef never():\n    return 1\n"
    (tmp_path / "pipelines" / "assets.py").write_text(textwrap.dedent(source), encoding="utf-8")
    project = load_project(tmp_path, environ={})
    env = Env(project, Store(connect(project.settings.db, base_dir=project.root)))
    try:
        t0 = _at("2026-03-04T09:00:00")
        env.materialize("orders", t0)
        alerts = Alerts()
        watches = [FreshnessWatch(Store(connect(fresh_db)), alerts) for _ in range(4)]
        barrier = threading.Barrier(len(watches))

        def check(watch: FreshnessWatch, minutes: int) -> None:
            for hours in (3, 5):
                barrier.wait()
                watch.check(env.assets, (t0 + timedelta(hours=hours, minutes=minutes)).timestamp())

        # the never-materialized asset is late max_lag after each watch's first look: a different moment for each
        threads = [threading.Thread(target=check, args=(w, i)) for i, w in enumerate(watches)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(a.task_id or "" for a in alerts.sent) == ["never", "orders"]
        assert sorted(v.asset_key for v in recent_violations(env.store)) == ["never", "orders"]
        for watch in watches:
            watch.store.close()
    finally:
        env.store.close()


# -- a policy with cron -------------------------------------------------------------------------------


def test_each_cron_tick_missed_is_a_new_violation(tmp_path: Path, env_of: dict[str, Env]) -> None:
    env = _env(env_of, tmp_path, CRON)
    alerts = Alerts()
    watch = FreshnessWatch(env.store, alerts)
    env.materialize("report", _at("2026-03-04T06:30:00"))
    # at 07:00 it is fresh; the 08:00 tick needs a materialization after 07:00
    assert watch.check(env.assets, _at("2026-03-04T07:00:00").timestamp()) == _at("2026-03-04T08:00:00").timestamp()
    watch.check(env.assets, _at("2026-03-04T08:00:00").timestamp())
    assert [v.expected_by for v in recent_violations(env.store)] == [_at("2026-03-04T08:00:00")]
    env.materialize("report", _at("2026-03-04T08:30:00"))
    watch.check(env.assets, _at("2026-03-04T08:31:00").timestamp())
    assert watch.statuses[("report", "")].fresh
    watch.check(env.assets, _at("2026-03-05T07:59:00").timestamp())
    assert len(alerts.sent) == 1
    # the next tick is late again (the newest materialization is from yesterday): a new violation
    watch.check(env.assets, _at("2026-03-05T08:00:00").timestamp())
    assert [v.expected_by for v in recent_violations(env.store)] == [
        _at("2026-03-05T08:00:00"),
        _at("2026-03-04T08:00:00"),
    ]
    assert [a.details["expected_by"] for a in alerts.sent] == [
        "2026-03-04T08:00:00+00:00",
        "2026-03-05T08:00:00+00:00",
    ]


# -- partitions -----------------------------------------------------------------------------------------


def test_the_newest_ended_partition_must_be_materialized_within_max_lag(tmp_path: Path, env_of: dict[str, Env]) -> None:
    env = _env(env_of, tmp_path, DAILY)
    alerts = Alerts()
    watch = FreshnessWatch(env.store, alerts)
    # 2026-03-01 ended at midnight: it is due at 02:00
    wake = watch.check(env.assets, _at("2026-03-02T01:00:00").timestamp())
    assert wake == _at("2026-03-02T02:00:00").timestamp()
    watch.check(env.assets, _at("2026-03-02T02:30:00").timestamp())
    [violation] = recent_violations(env.store, "daily_orders")
    assert (violation.partition_key, violation.expected_by) == ("2026-03-01", _at("2026-03-02T02:00:00"))
    assert violation.minutes_late == pytest.approx(30.0)
    [alert] = alerts.sent
    assert alert.message == (
        "asset daily_orders partition 2026-03-01 has never been materialized, due 2026-03-02 02:00 UTC (max lag 2h)"
    )
    assert alert.details["partition"] == "2026-03-01"
    env.materialize("daily_orders", _at("2026-03-02T03:00:00"), "2026-03-01")
    # materialized: fresh until the next partition is due, the next night at 02:00
    wake = watch.check(env.assets, _at("2026-03-02T03:01:00").timestamp())
    assert watch.statuses[("daily_orders", "2026-03-01")].fresh
    assert wake == _at("2026-03-03T02:00:00").timestamp()
    watch.check(env.assets, _at("2026-03-03T02:00:00").timestamp())
    assert [v.partition_key for v in recent_violations(env.store)] == ["2026-03-02", "2026-03-01"]
    assert len(alerts.sent) == 2


def _asset(**options: object) -> AssetDefinition:
    def fn() -> int:
        return 1

    return asset(name="judged", **options)(fn)  # type: ignore[call-overload, no-any-return]


def test_which_partitions_are_judged_and_when() -> None:
    daily = _asset(partitions=DailyPartitions(start="2026-03-01"), freshness=Freshness(max_lag="1h", cron="0 8 * * *"))
    # at a tick t, the newest partition ended by t - max_lag must exist: at 08:30 the 08:00 tick needs 03-04
    [status] = evaluate(daily, {}, _at("2026-03-05T08:30:00"))
    assert (status.partition_key, status.fresh, status.expected_by) == ("2026-03-04", False, _at("2026-03-05T08:00:00"))
    assert status.next_check == _at("2026-03-06T08:00:00")
    [status] = evaluate(daily, {"2026-03-04": _at("2026-03-05T07:00:00")}, _at("2026-03-05T08:30:00"))
    assert status.fresh and status.expected_by is None

    static = _asset(partitions=StaticPartitions(["eu", "us"]), freshness=Freshness(max_lag="2h"))
    statuses = evaluate(static, {"eu": _at("2026-03-05T07:00:00")}, _at("2026-03-05T08:00:00"))
    assert [(s.partition_key, s.fresh) for s in statuses] == [("eu", True), ("us", False)]

    hourly = HourlyPartitions(start="2026-03-01")
    assert newest_ended(hourly, _at("2026-03-05T08:00:00")) == "2026-03-05T07:00"
    assert newest_ended(hourly, _at("2026-03-05T08:59:59")) == "2026-03-05T07:00"
    assert newest_ended(hourly, _at("2026-02-28T08:00:00")) is None


# -- in the scheduler -----------------------------------------------------------------------------------


def test_the_scheduler_wakes_when_an_asset_becomes_late_and_alerts_through_its_alerter(
    tmp_path: Path, env_of: dict[str, Env]
) -> None:
    env = _env(env_of, tmp_path, LAG)
    t0 = _at("2026-03-04T09:00:00")
    env.materialize("orders", t0)
    clock = FakeClock((t0 + timedelta(minutes=30)).timestamp())
    options = SchedulerOptions(tick=86400.0, parse_interval=86400.0, lease_ttl=86400.0 * 3)
    scheduler = Scheduler(env.project, store=env.store, executor=InlineExecutor(), clock=clock, options=options)
    alerts = Alerts()
    assert scheduler.freshness is not None
    scheduler.freshness.send = alerts
    try:
        wait = scheduler.step()
        assert clock.now() + wait <= (t0 + timedelta(hours=2)).timestamp()
        clock.current = (t0 + timedelta(hours=2)).timestamp()
        scheduler.step()
        assert [a.task_id for a in alerts.sent] == ["orders"]
        assert [v.asset_key for v in recent_violations(env.store)] == ["orders"]
    finally:
        scheduler.shutdown()
