"""S3ObjectArrival through a real Scheduler: new objects fire one debounced run, objects already there do not."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import BUCKET, SECRET, all_text, put
from sqlalchemy import select

from headwater import DefinitionError
from headwater.config.settings import load_project
from headwater.engine.clock import FakeClock
from headwater.engine.scheduler import Scheduler, SchedulerOptions
from headwater.executors.inline import InlineExecutor
from headwater.store import tables as t
from headwater.store.database import connect
from headwater.store.events import list_events
from headwater.store.repository import Store
from headwater_s3 import S3ObjectArrival
from headwater_s3.source import S3ObjectArrivalSource

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

START = 1_772_355_600.0  # 2026-03-01 09:00 UTC

ORDERS = """
from headwater import Pipeline, task
from headwater_s3 import S3ObjectArrival

@task
def load(ctx):
    return ctx.run_id

with Pipeline("orders", schedule=S3ObjectArrival("lake", "lake-raw", "raw/orders/*.parquet", debounce="60s")):
    load()
"""


def _project(root: Path, pipelines: dict[str, str]) -> Path:
    """A project whose event sources look for news only when a test calls ``events.poll()``."""
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    settings = 'db = "sqlite:///.headwater/hw.db"\nexecutor = "inline"\n[scheduler]\nevent_poll_interval = 3600\n'
    (root / "headwater.toml").write_text(settings, encoding="utf-8")
    for name, source in pipelines.items():
        (root / "pipelines" / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return root


def _scheduler(root: Path, clock: FakeClock) -> tuple[Scheduler, Store]:
    project = load_project(root, environ={})
    store = Store(connect(project.settings.db, base_dir=root))
    options = SchedulerOptions(tick=3600.0, parse_interval=3600.0, lease_ttl=7200.0)
    return Scheduler(project, store=store, executor=InlineExecutor(), clock=clock, options=options), store


def _settle(scheduler: Scheduler) -> None:
    """One pass, then wait for the runs it started and reap them."""
    scheduler.step()
    for item in list(scheduler.active.values()):
        item.thread.join(30)
    scheduler.step()


def _runs(store: Store) -> list[tuple[str, str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.runs.c.run_id, t.runs.c.state, t.runs.c.trigger).order_by(t.runs.c.run_id))
        return [(str(a), str(b), str(c)) for a, b, c in rows]


def _keys(store: Store, state: str | None = None) -> list[str]:
    events = list_events(store, "orders", state=state)
    return sorted(str(e.payload["key"]) for e in events if isinstance(e.payload, dict))


def test_the_trigger_describes_itself_and_checks_its_arguments() -> None:
    trigger = S3ObjectArrival("lake", "lake-raw", "raw/orders/*.parquet", debounce="2m")
    assert (trigger.kind, trigger.describe(), trigger.debounce_seconds) == (
        "s3",
        "s3:lake/lake-raw/raw/orders/*.parquet",
        120.0,
    )
    assert S3ObjectArrival("lake", "lake-raw", prefix="raw/").describe() == "s3:lake/lake-raw/raw/*"
    assert S3ObjectArrival("lake", "lake-raw").describe() == "s3:lake/lake-raw/*"
    for make, words in [
        (lambda: S3ObjectArrival("lake", "Bad Bucket"), "not a valid bucket name"),
        (lambda: S3ObjectArrival("lake", "lake-raw", "a", prefix="b"), "not both"),
        (lambda: S3ObjectArrival("lake", "lake-raw", "a[b"), "unbalanced"),
        (lambda: S3ObjectArrival("lake", "lake-raw", debounce="soon"), "debounce"),
    ]:
        with pytest.raises(DefinitionError, match=words):
            make()


def test_new_objects_fire_one_run_and_objects_already_there_do_not(s3: S3Client, lake: str, tmp_path: Path) -> None:
    put(s3, "raw/orders/old.parquet")  # there when the trigger is first seen: never fires
    root = _project(tmp_path, {"orders": ORDERS})
    clock = FakeClock(START)
    scheduler, store = _scheduler(root, clock)
    try:
        scheduler.step()
        assert scheduler.load_errors == []
        assert scheduler.events is not None
        assert isinstance(scheduler.events.sources["s3"], S3ObjectArrivalSource)
        for n in range(3):
            put(s3, f"raw/orders/day{n}.parquet")
        put(s3, "raw/orders/notes.csv")  # not matched by the glob
        scheduler.events.poll()
        assert _keys(store, "pending") == [f"raw/orders/day{n}.parquet" for n in range(3)]
        scheduler.step()
        assert _runs(store) == []  # within the debounce
        clock.advance(61)
        _settle(scheduler)
        runs = _runs(store)
        assert len(runs) == 1
        run_id, state, trigger = runs[0]
        assert (state, trigger) == ("success", "event")
        fired = list_events(store, "orders")
        assert {e.run_id for e in fired} == {run_id}
        payload = fired[0].payload
        assert isinstance(payload, dict)
        assert {payload["bucket"], payload["change"]} == {BUCKET, "new"}
        assert set(payload) == {"bucket", "key", "size", "etag", "last_modified", "change"}

        put(s3, "raw/orders/day1.parquet", b"rewritten")  # a new ETag: fires again, as a change
        scheduler.events.poll()
        scheduler.events.poll()  # nothing new the second time
        (changed,) = list_events(store, "orders", state="pending")
        assert isinstance(changed.payload, dict)
        assert (changed.payload["key"], changed.payload["change"]) == ("raw/orders/day1.parquet", "changed")
        clock.advance(61)
        _settle(scheduler)
        assert len(_runs(store)) == 2
    finally:
        scheduler.shutdown()
        store.close()


def test_a_restarted_scheduler_fires_only_for_objects_that_arrived_meanwhile(
    s3: S3Client, lake: str, tmp_path: Path
) -> None:
    put(s3, "raw/orders/a.parquet")
    root = _project(tmp_path, {"orders": ORDERS})
    clock = FakeClock(START)
    scheduler, store = _scheduler(root, clock)
    try:
        scheduler.step()  # the baseline: a.parquet
    finally:
        scheduler.shutdown()
        store.close()
    put(s3, "raw/orders/b.parquet")  # arrives while no scheduler runs
    clock.advance(600)
    scheduler, store = _scheduler(root, clock)
    try:
        scheduler.step()
        assert _keys(store) == ["raw/orders/b.parquet"]
        clock.advance(61)
        _settle(scheduler)
        assert [state for _, state, _ in _runs(store)] == ["success"]
    finally:
        scheduler.shutdown()
        store.close()


def test_a_missing_bucket_is_logged_once_and_watched_again_when_it_appears(
    s3: S3Client, lake: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = ORDERS.replace('"lake-raw"', '"lake-late"')
    root = _project(tmp_path, {"orders": source})
    clock = FakeClock(START)
    scheduler, store = _scheduler(root, clock)
    try:
        with caplog.at_level(logging.WARNING, logger="headwater.events.s3"):
            scheduler.step()
            assert scheduler.events is not None
            scheduler.events.poll()
            scheduler.events.poll()
        warnings = [r.getMessage() for r in caplog.records if r.name == "headwater.events.s3"]
        assert len(warnings) == 1
        assert "the bucket 'lake-late' does not exist (NoSuchBucket)" in warnings[0]
        assert SECRET not in all_text(warnings)
        s3.create_bucket(Bucket="lake-late", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        put(s3, "raw/orders/first.parquet", bucket="lake-late")
        scheduler.events.poll()  # the first listing that works is the baseline
        put(s3, "raw/orders/second.parquet", bucket="lake-late")
        scheduler.events.poll()
        assert _keys(store) == ["raw/orders/second.parquet"]
    finally:
        scheduler.shutdown()
        store.close()


def test_an_unknown_connection_is_a_definition_error_for_the_scheduler(lake: str, tmp_path: Path) -> None:
    root = _project(tmp_path, {"orders": ORDERS.replace('"lake"', '"nowhere"')})
    scheduler, store = _scheduler(root, FakeClock(START))
    try:
        scheduler.step()
        assert any(
            "trigger s3:nowhere/lake-raw/raw/orders/*.parquet" in str(e) and "HEADWATER_CONN_NOWHERE" in str(e)
            for e in scheduler.load_errors
        ), scheduler.load_errors
    finally:
        scheduler.shutdown()
        store.close()
