"""Durable state on SQLite and PostgreSQL: what a run stores, resuming after a crash, migrations."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import inspect

from headwater import Pipeline, task
from headwater.engine.clock import FakeClock
from headwater.engine.run import INTERRUPTED, RunEngine
from headwater.executors.inline import InlineExecutor
from headwater.loader.files import remember
from headwater.model.context import Context
from headwater.store.database import connect
from headwater.store.migrate import HEAD, MIGRATIONS, current_revision
from headwater.store.repository import Store
from headwater.testing import run_pipeline


def test_a_run_stores_states_tries_errors_and_results(db_url: str) -> None:
    @task
    def extract() -> dict[str, int]:
        return {"rows": 3}

    @task(retries=1)
    def flaky(ctx: Context, data: dict[str, int]) -> int:
        if ctx.try_number == 1:
            raise ConnectionError("api unavailable")
        return data["rows"] * 2

    @task
    def broken(n: int) -> None:
        raise ValueError(f"bad value {n}")

    @task
    def never(x: object) -> None:
        pass

    with Pipeline("stored") as p:
        never(broken(flaky(extract())))
    result = run_pipeline(p, db=db_url, clock=FakeClock())
    assert result.state == "failed"

    store = Store(connect(db_url))
    try:
        run = store.get_run(result.summary.run_id)
        assert run is not None
        assert (run.pipeline_id, run.state) == ("stored", "failed")
        assert run.started_at is not None and run.ended_at is not None
        states = {ti.task_id: (ti.state, ti.try_number) for ti in store.task_instances(run.run_id)}
        assert states == {
            "extract": ("success", 1),
            "flaky": ("success", 2),
            "broken": ("failed", 1),
            "never": ("upstream_failed", 0),
        }
        tries = [(tr.task_id, tr.try_number, tr.state, tr.error) for tr in store.tries(run.run_id)]
        assert sorted(tries) == [
            ("broken", 1, "failed", "ValueError: bad value 6"),
            ("extract", 1, "success", None),
            ("flaky", 1, "failed", "ConnectionError: api unavailable"),
            ("flaky", 2, "success", None),
        ]
        stored = {task_id: json.loads(value) for task_id, (_, value) in store.results(run.run_id).items()}
        assert stored == {"extract": {"rows": 3}, "flaky": 6}
        assert [r.run_id for r in store.list_runs("stored", limit=100)].count(run.run_id) == 1
    finally:
        store.close()


def test_resume_reruns_only_what_did_not_succeed(db_url: str) -> None:
    calls: list[str] = []
    broken = {"second": True}

    @task
    def first() -> int:
        calls.append("first")
        return 1

    @task
    def second(x: int) -> int:
        calls.append("second")
        if broken["second"]:
            raise RuntimeError("warehouse down")
        return x + 1

    @task
    def third(x: int) -> int:
        calls.append("third")
        return x * 10

    with Pipeline("resumable") as p:
        third(second(first()))
    remember(p)
    store = Store(connect(db_url))
    try:
        engine = RunEngine(p, store, InlineExecutor(), clock=FakeClock())
        record = engine.create_run()
        failed = engine.run(record)
        assert failed.state == "failed"
        assert calls == ["first", "second"]

        broken["second"] = False
        stored = store.get_run(record.run_id)
        assert stored is not None and stored.state == "failed"
        resumed = engine.run(stored, resumed=True)
        assert resumed.ok
        assert calls == ["first", "second", "second", "third"]  # `first` kept its success
        assert json.loads(store.results(record.run_id)["third"][1]) == 20  # from first's stored result
        assert [(tr.try_number, tr.state) for tr in store.tries(record.run_id, "second")] == [
            (1, "failed"),
            (2, "success"),
        ]
        run = store.get_run(record.run_id)
        assert run is not None and run.state == "success"
    finally:
        store.close()


def test_resume_after_the_process_died_mid_try(db_url: str) -> None:
    calls: list[str] = []
    crash = {"now": True}

    @task
    def first() -> str:
        calls.append("first")
        return "a"

    @task
    def second(x: str) -> str:
        calls.append("second")
        if crash["now"]:
            raise KeyboardInterrupt  # escapes the worker, like the process being killed
        return x + "b"

    with Pipeline("crashy") as p:
        second(first())
    remember(p)
    store = Store(connect(db_url))
    try:
        engine = RunEngine(p, store, InlineExecutor(), clock=FakeClock())
        record = engine.create_run()
        with pytest.raises(KeyboardInterrupt):
            engine.run(record)
        crashed = store.get_run(record.run_id)
        assert crashed is not None and crashed.state == "running"
        states = {ti.task_id: ti.state for ti in store.task_instances(record.run_id)}
        assert states == {"first": "success", "second": "queued"}

        crash["now"] = False
        again = RunEngine(p, store, InlineExecutor(), clock=FakeClock(), owner=engine.owner)  # the same process
        summary = again.run(crashed, resumed=True)
        assert summary.ok
        assert calls == ["first", "second", "second"]
        assert [(tr.try_number, tr.state, tr.error) for tr in store.tries(record.run_id, "second")] == [
            (1, "failed", INTERRUPTED),
            (2, "success", None),
        ]
        assert json.loads(store.results(record.run_id)["second"][1]) == "ab"
    finally:
        store.close()


def test_migration_head_matches_the_code() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]


def test_connect_creates_the_schema_on_an_empty_database(empty_db_url: str) -> None:
    engine = connect(empty_db_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"hw_runs", "hw_task_instances", "hw_task_tries", "hw_results", "alembic_version"} <= tables
        assert current_revision(engine) == HEAD
    finally:
        engine.dispose()
    again = connect(empty_db_url)  # already current: a no-op
    try:
        assert current_revision(again) == HEAD
    finally:
        again.dispose()
