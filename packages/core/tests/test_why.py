"""``headwater why RUN_ID TASK`` on SQLite and PostgreSQL: upstream, pools, retries, breakers, run limits, deadlines."""

from __future__ import annotations

import re
import secrets
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from headwater.cli.app import cli
from headwater.config.settings import load_project
from headwater.engine.clock import FakeClock
from headwater.engine.launch import open_store
from headwater.engine.run import RunEngine
from headwater.executors.inline import InlineExecutor
from headwater.loader.files import load_pipeline
from headwater.model.pipeline import Pipeline
from headwater.store import breakers
from headwater.store import deadlines as db
from headwater.store.pools import PoolLimits, SlotRequest, acquire
from headwater.store.records import RunRecord, TryRecord, to_datetime
from headwater.store.repository import Store

T0 = 1_767_600_000.0  # 2026-01-05 08:00 UTC

PIPELINE = """
from headwater import Pipeline, task

@task
def extract():
    return 1

@task
def check():
    return 2

@task(pool="{pool}", retries=2)
def load():
    pass

with Pipeline("{pid}", deadline="2h"):
    [extract(), check()] >> load()
"""


class Project:
    """A project whose database is ``db_url``, with one pipeline of its own id and a pool ``api`` of one slot."""

    def __init__(self, root: Path, db_url: str) -> None:
        self.root = root
        self.pid = f"why_{secrets.token_hex(4)}"
        self.pool = f"api_{secrets.token_hex(3)}"  # pools are shared by every pipeline of a database
        (root / "pipelines").mkdir(parents=True)
        (root / "headwater.toml").write_text(
            f'executor = "inline"\ndb = "{db_url}"\n[pools]\n{self.pool} = 1\n', encoding="utf-8"
        )
        self.file = root / "pipelines" / "flow.py"
        self.file.write_text(textwrap.dedent(PIPELINE.format(pid=self.pid, pool=self.pool)), encoding="utf-8")
        self.store: Store = open_store(load_project(root, environ={}))

    @property
    def pipeline(self) -> Pipeline:
        return load_pipeline(self.file, self.pid)

    def new_run(self, trigger: str = "manual") -> RunRecord:
        engine = RunEngine(self.pipeline, self.store, InlineExecutor(), pools={self.pool: 1}, clock=FakeClock(T0))
        return engine.create_run(trigger=trigger)

    def set_task(
        self,
        run: RunRecord,
        task_id: str,
        state: str,
        *,
        tries: int = 0,
        error: str | None = None,
        next_try_at: float | None = None,
    ) -> None:
        ti = next(ti for ti in self.store.task_instances(run.run_id) if ti.task_id == task_id)
        ti.state, ti.try_number, ti.next_try_at = state, tries, next_try_at
        attempts = [
            TryRecord(
                run_id=run.run_id,
                task_id=task_id,
                try_number=n,
                pipeline_id=run.pipeline_id,
                state="running"
                if state == "running" and n == tries
                else ("success" if state == "success" else "failed"),
                queued_at=T0,
                started_at=T0,
                error=error if n == tries and state != "running" else None,
            )
            for n in range(1, tries + 1)
        ]
        self.store.write_batch(instances=[ti], new_tries=attempts)

    def set_run(self, run: RunRecord, state: str, *, owner: str | None = None, ended: float | None = None) -> None:
        self.store.write_batch(run_state=(run.run_id, state, T0, ended))
        if owner is not None:
            from sqlalchemy import update

            from headwater.store import tables as t

            with self.store.engine.begin() as conn:
                conn.execute(
                    update(t.runs)
                    .where(t.runs.c.run_id == run.run_id)
                    .values(lease_owner=owner, lease_expires_at=to_datetime(time.time() + 3600))
                )

    def why(self, *args: str) -> Result:
        result = CliRunner().invoke(cli, ["--project", str(self.root), "why", *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"headwater why {' '.join(args)} crashed:\n{result.output}") from result.exception
        return result


@pytest.fixture
def project(tmp_path: Path, db_url: str) -> Iterator[Project]:
    p = Project(tmp_path / "proj", db_url)
    yield p
    p.store.close()


def lines(result: Result) -> dict[str, str]:
    """The output's labelled lines: ``{label: text}`` (continuation lines joined with newlines)."""
    assert result.exit_code == 0, result.output
    out: dict[str, str] = {}
    label = ""
    for line in result.stdout.splitlines():
        head, text = line[:9].strip(), line[10:]
        if line.startswith("=> "):
            out["=>"] = line[3:]
        elif head:
            label = head
            out[label] = text
        else:
            out[label] += "\n" + text
    return out


def test_a_task_waiting_for_its_upstream_names_them_with_their_states(project: Project) -> None:
    run = project.new_run()
    project.set_run(run, "running", owner="host-a:4242:beef")
    project.set_task(run, "extract", "running", tries=1)

    out = lines(project.why(run.run_id, "load"))

    assert out["run"].startswith(f"{run.run_id} (pipeline {project.pid}, trigger manual, logical date ")
    assert out["state"].startswith("run running since 2026-01-05 08:00:00 UTC, driven by host-a:4242:beef (lease until")
    assert out["task"] == "load: scheduled, 0 of 3 tries used"
    assert out["upstream"] == "all_success: waiting for extract (running), check (scheduled)"
    assert out["pool"] == f"{project.pool}: 0 of 1 slots held"
    assert out["=>"] == "load is not running: waiting for upstream extract, check (all_success)"


def test_a_full_pool_lists_who_holds_it(project: Project) -> None:
    other = project.new_run()
    acquire(
        project.store,
        "host-b:77:cafe",
        [SlotRequest(other.run_id, "load", 1, project.pool, 1, "default")],
        T0 + 5,
        {project.pool: PoolLimits(slots=1, backfill_slots=1)},
    )
    run = project.new_run()
    project.set_run(run, "running", owner="host-a:1:aa")
    project.set_task(run, "extract", "success", tries=1)
    project.set_task(run, "check", "success", tries=1)

    out = lines(project.why(run.run_id, "load"))

    assert out["upstream"] == "all_success: satisfied (extract (success), check (success))"
    assert out["pool"] == (
        f"{project.pool}: full, 1 of 1 slots held:\n"
        f"  {other.run_id} / load try 1: 1 slot, default lane, owner host-b:77:cafe, since 2026-01-05 08:00:05 UTC"
    )
    assert out["=>"] == f"load is not running: waiting for a slot of pool {project.pool} (full: 1 of 1 held)"
    holder = lines(project.why(other.run_id, "load"))["pool"]
    assert holder.startswith(f"{project.pool}: full, 1 of 1 slots held (this task holds 1 slot):")


def test_a_task_waiting_to_retry_says_when_with_its_last_error(project: Project) -> None:
    run = project.new_run()
    project.set_run(run, "running", owner="host-a:1:aa")
    due = time.time() + 600
    project.set_task(
        run, "load", "up_for_retry", tries=1, error="ConnectionError: refused\nTraceback...", next_try_at=due
    )

    out = lines(project.why(run.run_id, "load"))

    assert out["task"] == "load: up_for_retry, 1 of 3 tries used"
    assert re.fullmatch(r"try 1 failed; try 2 of 3 starts at \S+ \S+ UTC, in (9m\d+s|10m)", out["retry"]), out["retry"]
    assert out["error"] == "try 1: ConnectionError: refused"
    assert re.fullmatch(r"load is not running: waiting for its retry delay \(next try in (9m\d+s|10m)\)", out["=>"])


def test_an_open_circuit_breaker_says_how_to_close_it(project: Project) -> None:
    for n in range(2):
        breakers.record_outcome(
            project.store,
            pipeline_id=project.pid,
            task_id="load",
            run_id=f"{project.pid}-r{n}",
            succeeded=False,
            error="HTTPError: 503",
            threshold=2,
            now=T0 + n,
        )
    run = project.new_run()
    project.set_run(run, "running", owner="host-a:1:aa")
    project.set_task(run, "extract", "success", tries=1)
    project.set_task(run, "check", "success", tries=1)

    out = lines(project.why(run.run_id, "load"))

    assert out["breaker"] == (
        "open since 2026-01-05 08:00:01 UTC after 2 consecutive failed runs (last error: HTTPError: 503)\n"
        f"close it with `headwater reset {project.pid} load`"
    )
    assert out["=>"] == "load is not running: waiting for its circuit breaker to be closed (`headwater reset`)"


def test_a_queued_run_behind_max_active_runs_names_the_running_one(project: Project) -> None:
    first = project.new_run()
    project.set_run(first, "running", owner="host-a:1:aa")
    second = project.new_run()  # queued

    out = lines(project.why(second.run_id, "extract"))

    assert out["state"] == "run queued since 2026-01-05 08:00:00 UTC, not started yet"
    assert out["runs"] == f"max_active_runs (1) reached: running {first.run_id} (since 2026-01-05 08:00:00 UTC)"
    assert out["upstream"] == "none"
    assert out["=>"] == "extract is not running: waiting for its run to start (max_active_runs 1 reached)"


def test_running_and_finished_tasks_and_deadline_rows(project: Project) -> None:
    run = project.new_run()
    project.set_run(run, "running", owner="host-a:1:aa")
    project.set_task(run, "extract", "running", tries=1)
    project.set_task(run, "check", "failed", tries=1, error="ValueError: bad rows")
    deadline = to_datetime(T0 + 7200)
    assert deadline is not None
    db.record(
        project.store,
        db.DeadlineMiss(
            run_id=run.run_id,
            kind="predicted",
            pipeline_id=project.pid,
            deadline_at=deadline,
            detected_at=deadline,
            expected_end_at=to_datetime(T0 + 7800),
            minutes_late=10.0,
            critical_path=("extract", "load"),
        ),
    )

    running = lines(project.why(run.run_id, "extract"))
    failed = lines(project.why(run.run_id, "check"))

    assert running["task"] == "extract: running since 2026-01-05 08:00:00 UTC (try 1 of 1)"
    assert running["=>"] == "extract is running (try 1 of 1)"
    assert running["deadline"].splitlines() == [
        "2026-01-05 10:00:00 UTC (2h after the run's creation): passed",
        "predicted to miss it by 10.0 min (at 2026-01-05 10:00:00 UTC; expected end 2026-01-05 10:10:00 UTC;"
        " critical path extract > load)",
    ]
    assert failed["error"] == "try 1: ValueError: bad rows"
    assert failed["=>"] == "check is not running: it failed and has no tries left"


def test_a_scheduled_run_that_ended_late_shows_its_missed_deadline(project: Project) -> None:
    run = project.new_run(trigger="schedule")
    for task_id in ("extract", "check", "load"):
        project.set_task(run, task_id, "success", tries=1)
    project.set_run(run, "success", ended=T0 + 3 * 3600)

    out = lines(project.why(run.run_id, "load"))

    assert out["state"] == "run success, ended 2026-01-05 11:00:00 UTC"
    assert out["deadline"] == (
        "2026-01-05 10:00:00 UTC (2h after the interval's end): missed, the run ended 2026-01-05 11:00:00 UTC"
    )
    assert out["=>"] == "load is not running: it succeeded"


def test_without_the_definition_it_still_shows_what_the_database_knows(project: Project) -> None:
    run = project.new_run()
    project.set_run(run, "running", owner="host-a:1:aa")
    project.file.unlink()

    out = lines(project.why(run.run_id, "load"))

    assert out["note"].startswith("definition not loaded (")
    assert out["upstream"] == "unknown (the definition did not load)"
    assert out["task"] == "load: scheduled, 0 of 3 tries used"
    assert out["pool"] == f"{project.pool}: 0 of 1 slots held"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("no-such-run", "load"), "error: no run 'no-such-run' in "),
        (("RUN", "nope"), "has no task 'nope' (tasks: check, extract, load)"),
    ],
)
def test_unknown_runs_and_tasks_exit_2_with_one_message(project: Project, args: tuple[str, str], message: str) -> None:
    run = project.new_run()
    result = project.why(*(run.run_id if a == "RUN" else a for a in args))
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_why_without_a_database_does_not_create_one(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    (root / "headwater.toml").write_text('executor = "inline"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--project", str(root), "why", "some-run", "extract"])
    assert result.exit_code == 2
    assert "no runs yet" in result.stderr
    assert not (root / ".headwater" / "headwater.db").exists()
