"""The ``headwater`` command line, driven the way a user drives it, in a throwaway project."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from headwater.cli.app import cli

HELLO = """
from pathlib import Path
from headwater import Pipeline, task

OUT = Path(__file__).resolve().parent.parent / "out.txt"

@task
def extract(ctx):
    return 2

@task
def load(ctx, rows):
    n = ctx.params["n"]
    with OUT.open("a") as f:
        f.write(f"{type(n).__name__} {n} {rows}\\n")

with Pipeline("hello", params={"n": 3}, description="says hello"):
    load(extract())
"""


class Project:
    """A project directory with ``executor = "inline"`` (the core's tests do not install headwater-local)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pipelines = root / "pipelines"
        self.pipelines.mkdir(parents=True)
        (root / "headwater.toml").write_text('executor = "inline"\n', encoding="utf-8")

    def write(self, name: str, source: str) -> Path:
        path = self.pipelines / name
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    @property
    def db(self) -> Path:
        return self.root / ".headwater" / "headwater.db"

    def invoke(self, *args: str) -> Result:
        """Run ``headwater --project ROOT ARGS`` in this process; any crash other than an exit fails the test."""
        result = CliRunner().invoke(cli, ["--project", str(self.root), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"headwater {' '.join(args)} crashed:\n{result.output}") from result.exception
        return result

    def markers(self) -> list[str]:
        path = self.root / "markers.txt"
        return path.read_text(encoding="utf-8").split() if path.exists() else []


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")


def _run_id(output: str) -> str:
    match = re.search(r"^run (\S+) (?:succeeded|FAILED)", output, re.MULTILINE)
    assert match, output
    return match.group(1)


# -- --version ---------------------------------------------------------------------------------


def test_version_in_a_fresh_interpreter() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "headwater.cli.main", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"headwater {version('headwater')}"


def test_version_through_click() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"headwater {version('headwater')}"


# -- list / show / graph ---------------------------------------------------------------------------


def test_list_reports_a_broken_file_and_still_lists_the_good_ones(project: Project) -> None:
    project.write("hello.py", HELLO)
    broken = project.write("broken.py", "raise RuntimeError('cannot reach the warehouse')\n")
    result = project.invoke("list")
    assert result.exit_code == 2
    assert re.search(r"^hello\s+2\s", result.stdout, re.MULTILINE), result.output
    assert "says hello" in result.stdout
    assert str(broken) in result.stderr
    assert "cannot reach the warehouse" in result.stderr
    assert "Traceback" not in result.output


def test_list_does_not_reimport_an_unchanged_file(project: Project) -> None:
    counter = project.root / "imports.txt"
    path = project.write(
        "counted.py",
        f"""
        with open({str(counter)!r}, "a") as f:
            f.write("imported\\n")
        from headwater import Pipeline, BashOperator
        with Pipeline("counted"):
            BashOperator("a", command="true")
        """,
    )

    def headwater_list() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "headwater.cli.main", "--project", str(project.root), "list"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "counted" in headwater_list()
    assert "counted" in headwater_list()  # a new process: only the index can spare the import
    assert counter.read_text().count("imported") == 1
    with path.open("a") as f:
        f.write("# changed\n")
    assert "counted" in headwater_list()
    assert counter.read_text().count("imported") == 2


def test_show(project: Project) -> None:
    project.write(
        "etl.py",
        """
        from headwater import Pipeline, BashOperator
        with Pipeline("etl", schedule="0 6 * * *", tags=["nightly"], params={"limit": 10}):
            BashOperator("extract", command="true", retries=3, timeout="10m") >> BashOperator("load", command="true")
        """,
    )
    result = project.invoke("show", "etl")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "0 6 * * *" in out and "nightly" in out and "limit=10" in out
    assert str(project.pipelines / "etl.py") in out
    assert re.search(r"^extract\s.*\b3\b.*10m", out, re.MULTILINE), out
    assert re.search(r"^load\s.*\bextract$", out, re.MULTILINE), out


def test_graph_marks_the_critical_path(project: Project) -> None:
    project.write(
        "shape.py",
        """
        from headwater import Pipeline, BashOperator
        with Pipeline("shape"):
            a, b, c, side = (BashOperator(t, command="true") for t in ("a", "b", "c", "side"))
            a >> b >> c
            a >> side
        """,
    )
    result = project.invoke("graph", "shape")
    assert result.exit_code == 0, result.output
    out = result.output
    path_line = re.search(r"^critical path .*: (.+)$", out, re.MULTILINE)
    assert path_line, out
    assert path_line.group(1).split(" -> ") == ["a", "b", "c"]
    for task_id in "abc":
        assert re.search(rf"^\s*\* {task_id} \[", out, re.MULTILINE), out
    assert re.search(r"^\s+side \[", out, re.MULTILINE) and not re.search(r"\* side", out), out


# -- run ------------------------------------------------------------------------------------------


def test_run_success_prints_every_task_and_exits_0(project: Project) -> None:
    project.write("hello.py", HELLO)
    result = project.invoke("run", "hello")
    assert result.exit_code == 0, result.output
    for task_id in ("extract", "load"):
        assert re.search(rf"^{task_id}\s+success\s+1\s", result.output, re.MULTILINE), result.output
    assert re.search(r"^run \S+ succeeded", result.output, re.MULTILINE)
    assert (project.root / "out.txt").read_text() == "int 3 2\n"


def test_param_is_coerced_to_the_declared_type(project: Project) -> None:
    project.write("hello.py", HELLO)
    result = project.invoke("run", "hello", "-p", "n=5")
    assert result.exit_code == 0, result.output
    assert (project.root / "out.txt").read_text() == "int 5 2\n"


def test_failing_task_exits_1_with_its_error(project: Project) -> None:
    project.write(
        "fails.py",
        """
        from headwater import Pipeline, task

        @task
        def explode(ctx):
            raise ValueError("the source file is empty")

        @task
        def after(ctx):
            pass

        with Pipeline("fails"):
            explode() >> after()
        """,
    )
    result = project.invoke("run", "fails")
    assert result.exit_code == 1
    assert "the source file is empty" in result.output
    assert re.search(r"^explode\s+failed\s", result.output, re.MULTILINE), result.output
    assert re.search(r"^after\s+upstream_failed\s", result.output, re.MULTILINE), result.output
    assert "FAILED" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-p", "colour=red"), "colour"),
        (("-p", "n=many"), "n"),
        (("--date", "2026-13-45"), "2026-13-45"),
        (("--executor", "celery"), "headwater-celery"),
    ],
    ids=["unknown-param", "uncoercible-param", "bad-date", "unknown-executor"],
)
def test_bad_run_arguments_exit_2(project: Project, args: tuple[str, ...], message: str) -> None:
    project.write("hello.py", HELLO)
    result = project.invoke("run", "hello", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not project.db.exists()


def test_unknown_pipeline_lists_the_known_ones(project: Project) -> None:
    project.write("hello.py", HELLO)
    result = project.invoke("run", "helo")
    assert result.exit_code == 2
    assert "'helo'" in result.stderr and "hello" in result.stderr
    assert not project.db.exists()


FLAKY = """
from pathlib import Path
from headwater import Pipeline, task

ROOT = Path(__file__).resolve().parent.parent

def mark(task_id):
    with (ROOT / "markers.txt").open("a") as f:
        f.write(task_id + "\\n")

@task
def first(ctx):
    mark("first")

@task
def second(ctx):
    mark("second")
    if not (ROOT / "fixed").exists():
        raise ConnectionError("source unavailable")

@task
def third(ctx):
    mark("third")

with Pipeline("flaky"):
    first() >> second() >> third()
"""


@pytest.mark.parametrize("how", ["--run-id", "target"])
def test_resume_reruns_only_what_did_not_succeed(project: Project, how: str) -> None:
    project.write("flaky.py", FLAKY)
    failed = project.invoke("run", "flaky")
    assert failed.exit_code == 1, failed.output
    run_id = _run_id(failed.output)
    assert project.markers() == ["first", "second"]
    (project.root / "fixed").touch()
    args = ("run", "flaky", "--run-id", run_id) if how == "--run-id" else ("run", run_id)
    resumed = project.invoke(*args)
    assert resumed.exit_code == 0, resumed.output
    assert _run_id(resumed.output) == run_id
    assert project.markers() == ["first", "second", "second", "third"]
    assert re.search(r"^second\s+success\s+2\s", resumed.output, re.MULTILINE), resumed.output


# -- history / test --------------------------------------------------------------------------------


def test_history_of_a_pipeline_and_of_one_run(project: Project) -> None:
    project.write("flaky.py", FLAKY)
    run_id = _run_id(project.invoke("run", "flaky").output)
    by_pipeline = project.invoke("history", "flaky")
    assert by_pipeline.exit_code == 0, by_pipeline.output
    assert re.search(rf"^{re.escape(run_id)}\s+failed\s", by_pipeline.output, re.MULTILINE), by_pipeline.output
    by_run = project.invoke("history", run_id)
    assert by_run.exit_code == 0, by_run.output
    assert f"tasks of run {run_id} (failed)" in by_run.output
    assert re.search(r"^second\s+failed\s.*source unavailable", by_run.output, re.MULTILINE), by_run.output
    assert re.search(r"^first\s+success\s", by_run.output, re.MULTILINE), by_run.output


def test_history_of_an_unknown_pipeline_exits_2(project: Project) -> None:
    project.write("hello.py", HELLO)
    project.invoke("run", "hello")
    result = project.invoke("history", "nothing-here")
    assert result.exit_code == 2
    assert "nothing-here" in result.stderr


def test_test_command_persists_nothing(project: Project) -> None:
    project.write("hello.py", HELLO)
    result = project.invoke("test", "hello", "-p", "n=7")
    assert result.exit_code == 0, result.output
    assert re.search(r"^load\s+success\s", result.output, re.MULTILINE), result.output
    assert (project.root / "out.txt").read_text() == "int 7 2\n"
    assert not project.db.exists()


# -- init / plugins --------------------------------------------------------------------------------


def test_init_creates_a_project_that_lists(tmp_path: Path) -> None:
    target = tmp_path / "new"
    created = CliRunner().invoke(cli, ["init", str(target)])
    assert created.exit_code == 0, created.output
    listed = CliRunner().invoke(cli, ["--project", str(target), "list"])
    assert listed.exit_code == 0, listed.output
    assert re.search(r"^example\s", listed.output, re.MULTILINE), listed.output
    again = CliRunner().invoke(cli, ["init", str(target)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_plugins_lists_the_core_and_its_registrations() -> None:
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^headwater \(headwater [\d.]+\w*\) \[ok\]", result.output, re.MULTILINE), result.output
    for kind, name in [("executor", "inline"), ("operator", "bash"), ("operator", "python"), ("sensor", "file.exists")]:
        assert re.search(rf"^\s+{kind}\s+{re.escape(name)}\s+headwater\.", result.output, re.MULTILINE), result.output


# -- definition errors -----------------------------------------------------------------------------

_BASH = "from headwater import Pipeline, BashOperator\n"

DEFINITION_ERRORS: dict[str, tuple[dict[str, str], str, list[str]]] = {
    "cycle": (
        {
            "cyc.py": _BASH + "with Pipeline('cyc'):\n    a, b, c = (BashOperator(t, command='true') for t in 'abc')\n"
            "    a >> b >> c >> a\n"
        },
        "cyc",
        ["cyc.py", "pipeline 'cyc'", "cycle", "a", "b", "c"],
    ),
    "duplicate-task": (
        {
            "dup.py": _BASH + "with Pipeline('dup'):\n    BashOperator('load', command='true')\n"
            "    BashOperator('load', command='false')\n"
        },
        "dup",
        ["dup.py", "pipeline 'dup'", "duplicate task id 'load'"],
    ),
    "duplicate-pipeline": (
        {
            "one.py": _BASH + "with Pipeline('same'):\n    BashOperator('a', command='true')\n",
            "two.py": _BASH + "with Pipeline('same'):\n    BashOperator('b', command='true')\n",
        },
        "same",
        ["one.py", "two.py", "'same'", "duplicate"],
    ),
    "unknown-dependency": (
        {"unk.yaml": "id: unk\ntasks:\n  - id: a\n    operator: bash\n    command: 'true'\n    depends_on: [ghost]\n"},
        "unk",
        ["unk.yaml", "pipeline 'unk'", "ghost"],
    ),
    "bad-cron": (
        {"cron.py": _BASH + "with Pipeline('cr', schedule='61 * * * *'):\n    BashOperator('a', command='true')\n"},
        "cr",
        ["cron.py", "pipeline 'cr'", "61 * * * *"],
    ),
    "bad-timezone": (
        {"tz.py": _BASH + "with Pipeline('tz', timezone='Mars/Olympus'):\n    BashOperator('a', command='true')\n"},
        "tz",
        ["tz.py", "pipeline 'tz'", "Mars/Olympus"],
    ),
    "bad-duration": (
        {"dur.py": _BASH + "with Pipeline('du'):\n    BashOperator('a', command='true', timeout='5 parsecs')\n"},
        "du",
        ["dur.py", "pipeline 'du'", "task 'a'", "5 parsecs"],
    ),
    "unknown-operator": (
        {"pg.yaml": "id: pg\ntasks:\n  - id: q\n    operator: postgres.query\n    sql: select 1\n"},
        "pg",
        ["pg.yaml", "pipeline 'pg'", "postgres.query", "headwater-postgres"],
    ),
}


@pytest.mark.parametrize("case", list(DEFINITION_ERRORS))
def test_definition_error_is_one_message_and_exit_2(project: Project, case: str) -> None:
    files, pipeline_id, fragments = DEFINITION_ERRORS[case]
    for name, source in files.items():
        project.write(name, source)
    for args in (("run", pipeline_id), ("list",)):
        result = project.invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        for fragment in fragments:
            assert fragment in result.stderr, (args, fragment, result.stderr)
        assert "Traceback" not in result.output
    assert not project.db.exists()


def test_relative_paths_in_tasks_start_at_the_project_directory_whatever_the_working_directory(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        "paths.py",
        """
        from headwater import Pipeline, task

        @task
        def write(ctx):
            target = ctx.path("out/result.txt")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(ctx.project_dir or "")
            return str(ctx.path("/abs/file"))

        with Pipeline("paths"):
            write()
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert project.invoke("run", "paths", "-q").exit_code == 0
    assert (project.root / "out" / "result.txt").read_text() == str(project.root)
    assert not (elsewhere / "out").exists()


def test_bash_and_headwater_test_also_start_relative_paths_at_the_project_directory(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        "shell.py",
        """
        from headwater import BashOperator, Pipeline

        with Pipeline("shell"):
            BashOperator("mark", command='echo "$HEADWATER_PROJECT_DIR" > marked.txt')
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for command in ("run", "test"):
        (project.root / "marked.txt").unlink(missing_ok=True)
        assert project.invoke(command, "shell", "-q").exit_code == 0
        assert (project.root / "marked.txt").read_text().strip() == str(project.root), command
    assert not (elsewhere / "marked.txt").exists()
