"""Circuit breakers on SQLite and PostgreSQL: counting failed runs, opening once, `headwater reset`."""

from __future__ import annotations

import secrets
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Connection

from headwater.cli.app import cli
from headwater.config.settings import load_project
from headwater.engine.launch import open_store
from headwater.store import breakers
from headwater.store.breakers import BreakerTransition
from headwater.store.database import connect
from headwater.store.repository import Store

T0 = 1_767_600_000.0  # 2026-01-05 08:00 UTC


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(connect(db_url))
    yield s
    s.close()


@pytest.fixture
def pid() -> str:
    """A pipeline id of its own: the PostgreSQL database is shared by the whole session."""
    return f"etl_{secrets.token_hex(4)}"


def fail(
    source: Store | Connection, pid: str, run: str, *, task: str = "extract", threshold: int | None = 3, at: float = T0
) -> BreakerTransition | None:
    return breakers.record_outcome(
        source,
        pipeline_id=pid,
        task_id=task,
        run_id=run,
        succeeded=False,
        error=f"ConnectionError: {run} refused",
        threshold=threshold,
        now=at,
    )


def succeed(store: Store, pid: str, run: str, *, task: str = "extract", threshold: int | None = 3) -> None:
    result = breakers.record_outcome(
        store, pipeline_id=pid, task_id=task, run_id=run, succeeded=True, error=None, threshold=threshold, now=T0
    )
    assert result is None


def test_nothing_is_recorded_without_a_threshold(store: Store, pid: str) -> None:
    for n in range(5):
        assert fail(store, pid, f"r{n}", threshold=None) is None
    assert breakers.list_breakers(store, pid) == []


def test_consecutive_failed_runs_open_the_breaker_once(store: Store, pid: str) -> None:
    assert fail(store, pid, "r1") is None
    assert fail(store, pid, "r2") is None
    assert breakers.open_breakers(store, pid) == {}
    transition = fail(store, pid, "r3", at=T0 + 60)
    assert transition == BreakerTransition(
        pipeline_id=pid,
        task_id="extract",
        run_id="r3",
        consecutive_failures=3,
        threshold=3,
        opened_at=T0 + 60,
        error="ConnectionError: r3 refused",
    )
    assert fail(store, pid, "r4", at=T0 + 120) is None  # already open: alert once
    info = breakers.open_breakers(store, pid)["extract"]
    assert info.is_open and info.consecutive_failures == 4
    assert info.opened_at == T0 + 60
    assert (info.last_run_id, info.last_error) == ("r4", "ConnectionError: r4 refused")


def test_a_success_resets_the_count_but_only_a_person_closes_the_breaker(store: Store, pid: str) -> None:
    fail(store, pid, "r1")
    fail(store, pid, "r2")
    succeed(store, pid, "r3")
    assert fail(store, pid, "r4") is None  # counting starts over: 1 of 3
    (info,) = breakers.list_breakers(store, pid)
    assert (info.state, info.consecutive_failures) == ("closed", 1)
    fail(store, pid, "r5")
    assert fail(store, pid, "r6") is not None
    succeed(store, pid, "r7")
    info = breakers.open_breakers(store, pid)["extract"]
    assert (info.is_open, info.consecutive_failures) == (True, 0)


def test_a_resumed_run_that_fails_again_is_counted_once(store: Store, pid: str) -> None:
    fail(store, pid, "r1")
    fail(store, pid, "r1")  # the same run, resumed, failed again
    fail(store, pid, "r1")
    (info,) = breakers.list_breakers(store, pid)
    assert info.consecutive_failures == 1
    succeed(store, pid, "r2")
    fail(store, pid, "r1")  # an old run resumed after a success: a new failure in a row
    assert breakers.list_breakers(store, pid)[0].consecutive_failures == 1


def test_breakers_are_per_task_and_per_pipeline(store: Store, pid: str) -> None:
    other = f"{pid}_other"
    for n in range(2):
        fail(store, pid, f"r{n}", task="extract", threshold=2)
        fail(store, pid, f"r{n}", task="load", threshold=5)
        fail(store, other, f"r{n}", task="extract", threshold=5)
    assert set(breakers.open_breakers(store, pid)) == {"extract"}
    assert breakers.open_breakers(store, other) == {}
    every = [(b.pipeline_id, b.task_id) for b in breakers.list_breakers(store) if b.pipeline_id.startswith(pid)]
    assert every == [(pid, "extract"), (pid, "load"), (other, "extract")]
    assert [b.task_id for b in breakers.list_breakers(store, pid, only_open=True)] == ["extract"]


def test_a_lowered_threshold_opens_at_the_next_failure(store: Store, pid: str) -> None:
    for n in range(4):
        fail(store, pid, f"r{n}", threshold=10)
    transition = fail(store, pid, "r4", threshold=3)
    assert transition is not None and transition.consecutive_failures == 5


def test_reset_closes_zeroes_and_returns_what_was_open(store: Store, pid: str) -> None:
    for n in range(3):
        fail(store, pid, f"r{n}", task="extract", threshold=2, at=T0 + n)
        fail(store, pid, f"r{n}", task="load", threshold=2)
        fail(store, pid, f"r{n}", task="report", threshold=10)
    closed = breakers.reset(store, pid, "extract")
    assert [(b.task_id, b.consecutive_failures, b.opened_at, b.is_open) for b in closed] == [
        ("extract", 3, T0 + 1, True)
    ]
    assert set(breakers.open_breakers(store, pid)) == {"load"}
    assert [b.task_id for b in breakers.reset(store, pid)] == ["load"]
    assert breakers.reset(store, pid) == []
    after = {b.task_id: b for b in breakers.list_breakers(store, pid)}
    assert {(b.state, b.consecutive_failures, b.opened_at, b.last_run_id) for b in after.values()} == {
        ("closed", 0, None, None)
    }
    assert after["report"].last_error == "ConnectionError: r2 refused"  # kept for the record
    fail(store, pid, "r2", task="extract", threshold=2)  # counts again from zero after a reset
    assert breakers.list_breakers(store, pid)[0].consecutive_failures == 1


def test_the_connection_form_joins_the_callers_transaction(store: Store, pid: str) -> None:
    with store.engine.connect() as conn:
        with conn.begin() as tx:
            fail(conn, pid, "r1", threshold=1)
            assert set(breakers.open_breakers(conn, pid)) == {"extract"}
            tx.rollback()
        assert breakers.open_breakers(conn, pid) == {}
    with store.engine.begin() as conn:
        assert fail(conn, pid, "r1", threshold=1) is not None
    assert set(breakers.open_breakers(store, pid)) == {"extract"}


def test_concurrent_failures_count_every_run_and_open_exactly_once(db_url: str, pid: str) -> None:
    """Several schedulers (here threads with their own connections) recording failures at once."""
    workers = 8
    connect(db_url).dispose()  # create the schema once, before the schedulers start
    stores = [Store(connect(db_url, migrate=False)) for _ in range(workers)]
    barrier = threading.Barrier(workers)
    transitions: list[BreakerTransition | None] = []
    errors: list[BaseException] = []

    def record(n: int) -> None:
        try:
            barrier.wait()
            for k in range(3):
                transitions.append(fail(stores[n], pid, f"r{n}_{k}", threshold=workers * 2))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for s in stores:
        s.close()
    assert errors == []
    opened = [t for t in transitions if t is not None]
    assert len(opened) == 1 and opened[0].consecutive_failures == workers * 2
    check = Store(connect(db_url, migrate=False))
    try:
        info = breakers.open_breakers(check, pid)["extract"]
    finally:
        check.close()
    assert info.consecutive_failures == workers * 3


# -- headwater reset --------------------------------------------------------------------------------

PIPELINE = """
from headwater import Pipeline, task

@task(circuit_breaker=2)
def extract(ctx):
    return 1

@task
def load(ctx, rows):
    return rows

with Pipeline("etl"):
    load(extract())
"""


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "pipelines").mkdir(parents=True)
        (root / "headwater.toml").write_text('executor = "inline"\n', encoding="utf-8")
        (root / "pipelines" / "etl.py").write_text(textwrap.dedent(PIPELINE), encoding="utf-8")

    @property
    def db(self) -> Path:
        return self.root / ".headwater" / "headwater.db"

    def invoke(self, *args: str) -> Result:
        result = CliRunner().invoke(cli, ["--project", str(self.root), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"headwater {' '.join(args)} crashed:\n{result.output}") from result.exception
        return result

    def open_breaker(self, pipeline_id: str, task_id: str, failures: int = 2) -> None:
        store = open_store(load_project(self.root, environ={}))
        try:
            for n in range(failures):
                fail(store, pipeline_id, f"{pipeline_id}__r{n}", task=task_id, threshold=failures, at=T0 + n)
        finally:
            store.close()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")


def test_reset_closes_the_open_breaker_and_says_so(project: Project) -> None:
    project.open_breaker("etl", "extract")
    result = project.invoke("reset", "etl")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "closed the circuit breaker of etl/extract (open since 2026-01-05 08:00 UTC after 2 consecutive failed runs;"
        " last error: ConnectionError: etl__r1 refused)\n"
    )
    again = project.invoke("reset", "etl")
    assert (again.exit_code, again.stdout) == (0, "nothing to reset: no open circuit breaker for etl\n")


def test_reset_of_one_task_leaves_the_others_open(project: Project) -> None:
    project.open_breaker("etl", "extract")
    project.open_breaker("etl", "load")
    result = project.invoke("reset", "etl", "load")
    assert result.exit_code == 0 and "etl/load" in result.stdout and "etl/extract" not in result.stdout
    listing = project.invoke("reset", "--list", "etl")
    assert listing.exit_code == 0
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["pipeline", "task", "state", "failures", "opened", "last", "failed", "run", "error"]
    assert lines[1].split()[:4] == ["etl", "extract", "OPEN", "2"]
    assert lines[2].split()[:4] == ["etl", "load", "closed", "0"]


def test_list_of_every_pipeline_includes_pipelines_gone_from_the_project(project: Project) -> None:
    project.open_breaker("retired", "pull")
    listing = project.invoke("reset", "--list")
    assert listing.exit_code == 0 and "retired" in listing.stdout and "OPEN" in listing.stdout
    result = project.invoke("reset", "retired")  # no longer defined, but its breaker is recorded
    assert result.exit_code == 0 and "closed the circuit breaker of retired/pull" in result.stdout


def test_reset_without_a_database_does_not_create_one(project: Project) -> None:
    result = project.invoke("reset", "etl", "extract")
    assert (result.exit_code, result.stdout) == (0, "nothing to reset: no open circuit breaker for etl/extract\n")
    assert project.invoke("reset", "--list").stdout == "no circuit breakers recorded\n"
    assert not project.db.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("reset", "nope"), "no pipeline 'nope' in "),
        (("reset", "etl", "nope"), "pipeline 'etl' has no task 'nope' (tasks: extract, load)"),
        (("reset", "retired", "nope"), "no circuit breaker recorded for task 'nope' of 'retired' (recorded: pull)"),
        (("reset", "--list", "nope"), "no pipeline 'nope' in "),
        (("reset",), "reset needs a PIPELINE (or --list to show every circuit breaker)"),
    ],
)
def test_unknown_targets_exit_2_with_one_message(project: Project, args: tuple[str, ...], fragment: str) -> None:
    project.open_breaker("retired", "pull")
    result = project.invoke(*args)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
