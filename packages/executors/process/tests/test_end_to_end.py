"""`headwater run --executor process`, driven the way a user drives it, in a throwaway project."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from headwater import Pipeline
from headwater.testing import run_pipeline
from headwater_process.executor import ProcessExecutor

ETL = """
import os

from headwater import BashOperator, Pipeline, task


@task
def extract():
    print(f"extracting in process {os.getpid()}")
    return {"rows": [1, 2, 3], "pid": os.getpid()}


@task
def load(batch):
    print(f"loading {len(batch['rows'])} rows")
    return {"total": sum(batch["rows"]), "same_process": batch["pid"] == os.getpid()}


with Pipeline("etl"):
    load(extract()) >> BashOperator("report", command="echo reported")
"""

SLOW = """
from headwater import BashOperator, Pipeline

with Pipeline("slow"):
    BashOperator("slow", command="sleep {seconds}; echo never", timeout=0.5)
    BashOperator("quick", command="echo quick")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "headwater.toml").write_text('executor = "process"\nconcurrency = 2\n', encoding="utf-8")
    return root


def _headwater(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "headwater"), "--project", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_a_pipeline_runs_through_the_cli_with_its_output_in_the_task_logs(project: Path) -> None:
    (project / "pipelines" / "etl.py").write_text(textwrap.dedent(ETL), encoding="utf-8")
    run = _headwater(project, "run", "etl", "-q")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "succeeded" in run.stdout
    logs = {path.name: path.read_text() for path in (project / ".headwater" / "logs" / "etl").rglob("*.log")}
    assert "extracting in process" in logs["extract.1.log"], logs
    assert "loading 3 rows" in logs["load.1.log"], logs
    assert "reported" in logs["report.1.log"], logs


def test_a_bash_task_over_its_timeout_is_killed_and_the_run_goes_on(project: Path) -> None:
    seconds = f"300.{random.randrange(10**8):08d}"
    (project / "pipelines" / "slow.py").write_text(textwrap.dedent(SLOW.format(seconds=seconds)), encoding="utf-8")
    run = _headwater(project, "run", "slow", "-q")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "timed out after 0.5s" in run.stdout, run.stdout
    summary = [line.split() for line in run.stdout.splitlines()]
    assert next(line[:2] for line in summary if line[:1] == ["quick"]) == ["quick", "success"]
    leftover = subprocess.run(["pgrep", "-f", f"sleep {seconds}"], capture_output=True, check=False)
    assert leftover.returncode == 1, f"the timed-out command survived: {leftover.stdout!r}"


# -- through headwater.testing.run_pipeline ---------------------------------------------------

BEATING = """
import time

from headwater import Pipeline, task


@task
def slow():
    time.sleep(0.5)  # long enough for a few heartbeats
    return "done"


@task(timeout=0.3, retries=1, retry_on=TimeoutError)
def stuck():
    time.sleep(600)


with Pipeline("beating"):
    slow()

with Pipeline("stuck"):
    stuck()
"""


def _load(tmp_path: Path, pipeline_id: str) -> Pipeline:
    from headwater.loader.files import load_file  # the pipeline must come from a file its workers can load

    path = tmp_path / "beating.py"
    if not path.exists():
        path.write_text(textwrap.dedent(BEATING), encoding="utf-8")
    return next(p for p in load_file(path) if p.id == pipeline_id)


def test_heartbeats_do_not_end_a_try_in_the_engine(tmp_path: Path) -> None:
    executor = ProcessExecutor(parallelism=2, options={"heartbeat_interval": 0.02})
    result = run_pipeline(_load(tmp_path, "beating"), executor=executor)
    assert result.ok, result.summary
    assert result.results["slow"] == "done"
    assert [t.state for t in result.tries["slow"]] == ["success"]


def test_a_timed_out_try_is_retried_and_fails_through_the_engine(tmp_path: Path) -> None:
    result = run_pipeline(_load(tmp_path, "stuck"), executor=ProcessExecutor(parallelism=2))
    assert result.task_state("stuck") == "failed"
    assert [t.state for t in result.tries["stuck"]] == ["failed", "failed"]
    assert all("timed out after 0.3s" in (t.error or "") for t in result.tries["stuck"])
