"""Task caching: ``@task(cache=True, cache_key=..., cache_expiration=...)`` and ``headwater run --no-cache``."""

from __future__ import annotations

import json
import logging
import re
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from headwater.cache import compute_key, entry_path
from headwater.cli.app import cli
from headwater.errors import DefinitionError
from headwater.executors.base import EncodedResult, EventKind, TaskEvent, TaskKey, TaskSubmission
from headwater.executors.worker import execute_submission
from headwater.loader.files import load_file
from headwater.model.context import Context, DataInterval
from headwater.model.pipeline import Pipeline
from headwater.model.python_operator import task

COUNTED = """
from pathlib import Path
from headwater import Pipeline, task

ROOT = Path(__file__).resolve().parent.parent

@task
def extract(ctx):
    return list(range(ctx.params["n"]))

@task({options})
def transform(rows):
    with (ROOT / "ran.txt").open("a") as f:
        f.write("ran\\n")
    return {{"total": sum(rows)}}

@task
def load(result):
    with (ROOT / "loaded.txt").open("a") as f:
        f.write(f"{{result['total']}}\\n")

with Pipeline("counted", params={{"n": 3}}):
    load(transform(extract()))
"""


class Project:
    """A throwaway project run through the CLI in this process (inline executor)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "pipelines").mkdir(parents=True)
        (root / "headwater.toml").write_text('executor = "inline"\n', encoding="utf-8")

    def write(self, source: str, name: str = "counted.py") -> None:
        (self.root / "pipelines" / name).write_text(textwrap.dedent(source), encoding="utf-8")

    def counted(self, options: str = "cache=True", body: str = "") -> None:
        source = COUNTED.format(options=options)
        if body:
            source = source.replace('    return {"total": sum(rows)}', body)
        self.write(source)

    def invoke(self, *args: str) -> Result:
        result = CliRunner().invoke(cli, ["--project", str(self.root), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"headwater {' '.join(args)} crashed:\n{result.output}") from result.exception
        return result

    def run(self, *args: str, expect: int = 0) -> Result:
        result = self.invoke("run", "counted", *args)
        assert result.exit_code == expect, result.output
        return result

    def lines(self, name: str) -> list[str]:
        path = self.root / name
        return path.read_text(encoding="utf-8").split() if path.exists() else []

    @property
    def runs(self) -> int:
        """How many times the cached task's code really ran."""
        return len(self.lines("ran.txt"))

    @property
    def db(self) -> Path:
        return self.root / ".headwater" / "headwater.db"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")


def _run_id(output: str) -> str:
    match = re.search(r"^run (\S+) (?:succeeded|FAILED)", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def _cached(output: str, task_id: str = "transform") -> bool:
    return re.search(rf"^{task_id}\s+success \(cached\)\s", output, re.MULTILINE) is not None


# -- hits and misses -----------------------------------------------------------------------------


def test_a_hit_reuses_the_stored_result_without_running_the_task(project: Project) -> None:
    project.counted()
    first = project.run()
    assert project.runs == 1 and not _cached(first.output)
    second = project.run()
    assert project.runs == 1, "the cached task ran again"
    assert _cached(second.output), second.output
    assert project.lines("loaded.txt") == ["3", "3"], "downstream did not get the cached result"

    history = project.invoke("history", _run_id(second.output))
    assert history.exit_code == 0, history.output
    assert _cached(history.output), history.output
    note = re.search(r"\[(cache hit \(key [0-9a-f]{8}, stored \d+s ago by run (\S+)\))\]", history.output)
    assert note, history.output
    assert note.group(2) == _run_id(first.output)
    log = next((project.root / ".headwater" / "logs" / "counted" / _run_id(second.output)).glob("transform.1.log"))
    assert note.group(1) in log.read_text(encoding="utf-8")


def test_different_inputs_miss(project: Project) -> None:
    project.counted()
    project.run("-p", "n=3")
    project.run("-p", "n=4")
    assert project.runs == 2
    assert _cached(project.run("-p", "n=3").output)
    assert project.runs == 2
    assert project.lines("loaded.txt") == ["3", "6", "3"]


def test_a_change_to_the_task_code_misses(project: Project) -> None:
    project.counted()
    project.run()
    project.counted(body='    return {"total": sum(rows) * 100}')
    changed = project.run()
    assert project.runs == 2 and not _cached(changed.output)
    assert project.lines("loaded.txt") == ["3", "300"]


def test_changing_only_the_decorator_keeps_the_cache(project: Project) -> None:
    project.counted()
    project.run()
    project.counted(options='cache=True, cache_expiration="1d", retries=2')
    assert _cached(project.run().output)


def test_cache_key_replaces_the_default_key(project: Project) -> None:
    project.counted(options="cache_key=lambda rows: str(len(rows) > 2)")
    project.run("-p", "n=3")
    # Other inputs, same key: the stored result is reused, even though it is "wrong" for them.
    assert _cached(project.run("-p", "n=5").output)
    assert project.runs == 1
    assert project.lines("loaded.txt") == ["3", "3"]
    # A different key misses.
    project.run("-p", "n=1")
    assert project.runs == 2


def test_a_large_result_is_reused_from_the_result_store(project: Project) -> None:
    project.counted(body='    return {"total": sum(rows), "padding": "x" * 100_000}')
    project.run()
    assert _cached(project.run().output)
    assert project.runs == 1
    assert project.lines("loaded.txt") == ["3", "3"]


def test_an_operator_is_keyed_by_its_arguments(project: Project) -> None:
    def bash(command: str) -> str:
        return f"""
        from headwater import BashOperator, Pipeline

        with Pipeline("counted"):
            BashOperator("shell", command={command!r}, cache=True)
        """

    count = project.root / "ran.txt"
    project.write(bash(f"echo ran >> {count}; echo done"))
    project.run()
    assert _cached(project.run().output, "shell")
    assert project.runs == 1
    project.write(bash(f"echo ran >> {count}; echo done again"))
    project.run()
    assert project.runs == 2


def test_no_cache_reruns_and_refreshes_the_entry(project: Project) -> None:
    project.counted()
    project.run()
    forced = project.run("--no-cache")
    assert project.runs == 2 and not _cached(forced.output)
    after = project.run()
    assert project.runs == 2 and _cached(after.output)
    history = project.invoke("history", _run_id(after.output)).output
    assert f"by run {_run_id(forced.output)})" in history, history


def test_no_cache_cannot_be_queued(project: Project) -> None:
    project.counted()
    result = project.invoke("run", "counted", "--queue", "--no-cache")
    assert result.exit_code == 2, result.output
    assert "--no-cache" in result.stderr and "--queue" in result.stderr
    assert not project.db.exists()


def test_expiration_bounds_the_age_of_a_hit(tmp_path: Path) -> None:
    source = tmp_path / "exp.py"
    source.write_text(
        textwrap.dedent(
            """
            from headwater import Pipeline, task

            @task(cache=True, cache_expiration="1h")
            def double(x):
                return x * 2

            with Pipeline("exp"):
                double(21)
            """
        ),
        encoding="utf-8",
    )
    (pipeline,) = load_file(source)
    results = tmp_path / "results"

    def attempt(run_id: str, at: float) -> TaskEvent:
        submission = TaskSubmission(
            key=TaskKey(run_id, "double", 1),
            pipeline_id="exp",
            pipeline_file=pipeline.file,
            logical_date="2026-03-01T00:00:00+00:00",
            interval_start="2026-03-01T00:00:00+00:00",
            interval_end="2026-03-02T00:00:00+00:00",
            results_url=str(results),
        )
        events: list[TaskEvent] = []
        final = execute_submission(submission, events.append, now=lambda: at)
        assert final.kind is EventKind.SUCCEEDED and final.result == EncodedResult("json", "42")
        return final

    t0 = 1_800_000_000.0
    assert attempt("r1", t0).note is None
    hit = attempt("r2", t0 + 3599)
    assert hit.note is not None and re.fullmatch(r"cache hit \(key [0-9a-f]{8}, stored 59m ago by run r1\)", hit.note)
    assert attempt("r3", t0 + 3601).note is None, "an entry older than cache_expiration was reused"
    refreshed = attempt("r4", t0 + 3602)
    assert refreshed.note is not None and refreshed.note.endswith("stored 1s ago by run r3)")


def test_the_entry_lives_in_the_result_store_under_cache(project: Project) -> None:
    project.counted()
    run_id = _run_id(project.run().output)
    entries = list((project.root / ".headwater" / "results" / "cache" / "counted" / "transform").glob("*.json"))
    assert len(entries) == 1 and re.fullmatch(r"[0-9a-f]{64}\.json", entries[0].name)
    entry = json.loads(entries[0].read_text(encoding="utf-8"))
    assert entry["run_id"] == run_id
    assert json.loads(entry["result"]["value"]) == {"total": 3}
    assert entry_path("p", "fetch[3]", "ab") == "cache/p/fetch/ab.json"  # a mapped task's instances share entries


def test_the_default_key_covers_the_partition() -> None:
    @task(cache=True)
    def scale(x: int) -> int:
        return x

    with Pipeline("keys"):
        op = scale(2)

    def key(partition: str | None) -> str:
        moment = datetime(2026, 3, 1, tzinfo=UTC)
        ctx = Context(
            run_id="r",
            pipeline_id="keys",
            task_id="scale",
            try_number=1,
            logical_date=moment,
            data_interval=DataInterval(moment, moment),
            params={},
            upstream={},
            log=logging.getLogger("test"),
            partition=partition,
        )
        return compute_key(op, ctx)

    assert key("2026-03-01") == key("2026-03-01")
    assert key("2026-03-01") != key("2026-03-02") != key(None)


# -- bad cache keys ------------------------------------------------------------------------------


def test_a_raising_cache_key_fails_the_task_without_retrying(project: Project) -> None:
    project.counted(options="retries=3, retry_delay=0, cache_key=lambda rows: rows[99]")
    result = project.run(expect=1)
    assert "cache_key function of task 'transform' raised IndexError: list index out of range" in result.output
    assert re.search(r"^transform\s+failed\s+1\s", result.output, re.MULTILINE), result.output
    assert re.search(r"^load\s+upstream_failed\s", result.output, re.MULTILINE), result.output
    assert project.runs == 0


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        ('cache_key="by-date"', ["task 'transform'", "cache_key", "'by-date'"]),
        ("cache_key=lambda: 'k'", ["task 'transform'", "cache_key", "cannot take the task's inputs"]),
        ('cache=True, cache_expiration="soon"', ["task 'transform'", "cache_expiration", "'soon'"]),
        ('cache="yes"', ["task 'transform'", "cache: expected True or False"]),
    ],
    ids=["not-callable", "wrong-signature", "bad-expiration", "cache-not-bool"],
)
def test_a_bad_cache_option_is_a_definition_error(project: Project, options: str, fragments: list[str]) -> None:
    project.counted(options=options)
    result = project.invoke("run", "counted")
    assert result.exit_code == 2, result.output
    for fragment in [*fragments, "counted.py", "pipeline 'counted'"]:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.output
    assert not project.db.exists()


def test_cache_key_must_accept_the_arguments_given_at_the_call() -> None:
    def by_name(rows: list[int], *, region: str) -> str:
        return region

    @task(cache_key=by_name)
    def load(rows: list[int], region: str = "eu") -> int:
        return len(rows)

    with Pipeline("sig"):
        load([1], region="us")  # binds
        with pytest.raises(DefinitionError, match=r"task 'load__2': cache_key .*by_name.*missing .*'region'"):
            load([1])
