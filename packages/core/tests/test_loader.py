"""Loading definition files: YAML pipelines, the per-file cache, the folder index, sibling imports."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from headwater import DefinitionError
from headwater.loader.files import load_file, load_pipeline
from headwater.loader.index import PipelineIndex
from headwater.testing import run_pipeline


def _write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


# -- YAML ---------------------------------------------------------------------------------------


def test_yaml_pipeline_builds_runs_and_applies_options(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    path = _write(
        tmp_path / "refresh.yaml",
        f"""
        id: refresh
        schedule: "0 6 * * *"
        description: nightly refresh
        tags: [etl]
        default_args: {{retries: 2, retry_delay: 5m}}
        tasks:
          - id: extract_a
            operator: bash
            command: echo extract_a >> {out}
            timeout: 90s
          - id: extract_b
            operator: bash
            command: echo extract_b >> {out}
            retries: 0
          - id: load
            operator: bash
            command: echo load >> {out}
            depends_on: [extract_a, extract_b]
            priority: 5
        """,
    )
    [pipeline] = load_file(path)
    assert pipeline.id == "refresh"
    assert pipeline.file == str(path.resolve())
    assert pipeline.schedule == "0 6 * * *" and pipeline.tags == ("etl",) and pipeline.description == "nightly refresh"
    assert pipeline.upstream == {"extract_a": set(), "extract_b": set(), "load": {"extract_a", "extract_b"}}
    a, b, load = (pipeline.tasks[t].options for t in ("extract_a", "extract_b", "load"))
    assert (a.retry.retries, a.retry.delay, a.timeout) == (2, 300.0, 90.0)
    assert (b.retry.retries, b.timeout) == (0, None)
    assert (load.retry.retries, load.priority) == (2, 5)

    result = run_pipeline(pipeline)
    assert result.ok, result.summary
    lines = out.read_text().split()
    assert sorted(lines[:2]) == ["extract_a", "extract_b"] and lines[2:] == ["load"]


def test_yaml_file_with_several_documents(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "two.yml",
        """
        id: first
        tasks: [{id: a, operator: bash, command: "true"}]
        ---
        id: second
        tasks: [{id: b, operator: bash, command: "true"}]
        """,
    )
    assert [p.id for p in load_file(path)] == ["first", "second"]


def test_yaml_schedule_takes_event_triggers(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "events.yaml",
        """
        id: on_events
        schedule:
          - {file_arrival: "landing/*.csv", debounce: 30s}
          - {webhook: orders_ready}
          - {asset_updated: stg_orders}
          - {database_change: {conn: warehouse, channel: orders_changed}}
        tasks: [{id: a, operator: bash, command: "true"}]
        ---
        id: one_event
        schedule: {webhook: ping}
        tasks: [{id: a, operator: bash, command: "true"}]
        """,
    )
    many, one = load_file(path)
    assert [t.describe() for t in many.triggers] == [
        "file:landing/*.csv",
        "webhook:orders_ready",
        "asset:stg_orders",
        "database:warehouse/orders_changed",
    ]
    assert many.triggers[0].debounce_seconds == 30.0 and many.cron is None
    assert [t.describe() for t in one.triggers] == ["webhook:ping"]


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        ("id: bad\nschedul: '@daily'\ntasks: []\n", ["pipeline 'bad'", "schedul"]),
        (
            "id: bad\nschedule: {webhook: a, file_arrival: 'x/*'}\ntasks: []\n",
            ["pipeline 'bad'", "exactly one of", "file_arrival, webhook"],
        ),
        ("id: bad\nschedule: {file_arrival: 'x/[a'}\ntasks: []\n", ["pipeline 'bad'", "unbalanced '['"]),
        ("id: bad\ntasks:\n  - id: a\n    command: 'true'\n", ["pipeline 'bad'", "operator"]),
        ("id: bad\ntasks:\n  - id: a\n    operator: bash\n    command: 'true'\n    retries: many\n", ["many"]),
        ("id: bad\ntasks:\n  - id: a\n    operator: bash\n    comand: 'true'\n", ["pipeline 'bad'", "task 'a'"]),
        ("id: [unclosed\n", ["invalid YAML"]),
    ],
    ids=[
        "unknown-field",
        "two-trigger-kinds",
        "bad-glob",
        "missing-operator",
        "bad-option",
        "bad-operator-argument",
        "bad-syntax",
    ],
)
def test_yaml_errors_name_the_file(tmp_path: Path, source: str, fragments: list[str]) -> None:
    path = _write(tmp_path / "bad.yaml", source)
    with pytest.raises(DefinitionError) as info:
        load_file(path)
    message = str(info.value)
    assert str(path.resolve()) in message
    for fragment in fragments:
        assert fragment in message, message


# -- the per-file cache -------------------------------------------------------------------------


def test_load_file_reimports_only_when_mtime_or_size_changes(tmp_path: Path) -> None:
    counter = tmp_path / "imports.txt"
    path = _write(
        tmp_path / "counted.py",
        f"""
        with open({str(counter)!r}, "a") as f:
            f.write("x")
        from headwater import Pipeline, BashOperator
        with Pipeline("counted"):
            BashOperator("task_a", command="true")
        """,
    )
    first = load_file(path)
    assert load_file(path) is first
    assert counter.read_text() == "x"

    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # same size, newer mtime
    second = load_file(path)
    assert second is not first and counter.read_text() == "xx"

    path.write_text(path.read_text().replace("task_a", "task_b"), encoding="utf-8")  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    assert list(load_file(path)[0].tasks) == ["task_b"]
    assert counter.read_text() == "xxx"

    path.write_text(path.read_text() + "# longer\n", encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # same mtime, new size
    load_file(path)
    assert counter.read_text() == "xxxx"


def test_load_pipeline_names_a_pipeline_the_file_no_longer_defines(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.py", "from headwater import Pipeline\nwith Pipeline('kept'):\n    pass\n")
    assert load_pipeline(path, "kept").id == "kept"
    with pytest.raises(DefinitionError, match="no longer defines pipeline 'gone'") as info:
        load_pipeline(path, "gone")
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        ("x = 1\nif x\n", ["syntax error on line 2"]),
        ("import os\nraise LookupError('no such table')\n", ["line 2", "LookupError", "no such table"]),
    ],
    ids=["syntax", "exception"],
)
def test_python_file_errors_name_file_and_line(tmp_path: Path, source: str, fragments: list[str]) -> None:
    path = _write(tmp_path / "broken.py", source)
    with pytest.raises(DefinitionError) as info:
        load_file(path)
    assert str(path.resolve()) in str(info.value)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_pipeline_file_imports_a_sibling_helper(tmp_path: Path) -> None:
    folder = tmp_path / "pipelines"
    _write(folder / "hw_test_sibling_helpers.py", "def double(x):\n    return 2 * x\n")
    path = _write(
        folder / "uses_helper.py",
        """
        from headwater import Pipeline, task
        from hw_test_sibling_helpers import double

        @task
        def compute(ctx):
            return double(21)

        with Pipeline("uses_helper"):
            compute()
        """,
    )
    [pipeline] = load_file(path)
    result = run_pipeline(pipeline)
    assert result.ok and result.results["compute"] == 42


# -- the folder index ---------------------------------------------------------------------------


def test_index_parses_only_changed_files_and_keeps_reporting_errors(tmp_path: Path) -> None:
    folder = tmp_path / "pipelines"
    _write(folder / "one.py", "from headwater import Pipeline\nwith Pipeline('one', tags=['x']):\n    pass\n")
    _write(folder / "sub" / "two.yaml", "id: two\ntasks: [{id: a, operator: bash, command: 'true'}]\n")
    _write(folder / "_private.py", "raise SystemExit('never imported')\n")
    broken = _write(folder / "broken.py", "raise RuntimeError('broken on purpose')\n")
    cache = tmp_path / "state" / "index.json"

    first = PipelineIndex(folder, cache).scan()
    assert set(first.pipelines) == {"one", "two"} and first.parsed == 3
    assert first.pipelines["one"].tags == ("x",) and first.pipelines["two"].tasks == 1
    assert [str(broken.resolve()) in str(e) and "broken on purpose" in str(e) for e in first.errors] == [True]

    again = PipelineIndex(folder, cache).scan()  # a fresh index object: only the cache file is shared
    assert again.parsed == 0
    assert again.pipelines == first.pipelines
    assert [str(e) for e in again.errors] == [str(e) for e in first.errors]

    broken.write_text("from headwater import Pipeline\nwith Pipeline('fixed'):\n    pass\n", encoding="utf-8")
    fixed = PipelineIndex(folder, cache).scan()
    assert fixed.parsed == 1 and set(fixed.pipelines) == {"one", "two", "fixed"} and not fixed.errors


def test_index_reports_a_pipeline_id_defined_in_two_files(tmp_path: Path) -> None:
    folder = tmp_path / "pipelines"
    for name in ("a.py", "b.py"):
        _write(folder / name, "from headwater import Pipeline\nwith Pipeline('same'):\n    pass\n")
    result = PipelineIndex(folder, None).scan()
    [error] = result.errors
    assert error.pipeline == "same"
    assert str(folder / "a.py") in str(error) and str(folder / "b.py") in str(error)
