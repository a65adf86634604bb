"""Every invalid definition raises DefinitionError with a message naming what is wrong."""

from __future__ import annotations

import itertools
import re

import pytest

from headwater import BashOperator, DefinitionError, Pipeline, load_operator, task
from headwater.engine.launch import load_executor
from headwater.testing import run_pipeline


@task
def noop() -> None:
    pass


def _assert_cycle(message: str, nodes: set[str], edges: set[tuple[str, str]]) -> None:
    """``message`` shows one cycle ``x -> y -> ... -> x`` through every node, along real edges."""
    match = re.search(r"cycle: ([\w .\->]+)", message)
    assert match, message
    path = [n.strip() for n in match.group(1).split("->")]
    assert path[0] == path[-1], message
    assert set(path) == nodes, message
    assert set(itertools.pairwise(path)) <= edges, message


def test_cycle_names_every_task_on_it() -> None:
    with pytest.raises(DefinitionError) as info:
        with Pipeline("cyclic"):
            a, b, c = (BashOperator(n, command="true") for n in "abc")
            BashOperator("outside", command="true") >> a
            a >> b >> c >> a
    _assert_cycle(str(info.value), {"a", "b", "c"}, {("a", "b"), ("b", "c"), ("c", "a")})
    assert set(info.value.tasks) == {"a", "b", "c"}
    assert info.value.pipeline == "cyclic"
    assert "cyclic" in str(info.value)


def test_cycle_through_a_data_dependency() -> None:
    @task
    def use(x: object) -> None:
        pass

    with pytest.raises(DefinitionError) as info:
        with Pipeline("data_cycle"):
            first = noop()
            second = use(first)
            second >> first
    _assert_cycle(str(info.value), {"noop", "use"}, {("noop", "use"), ("use", "noop")})


def test_self_dependency() -> None:
    with pytest.raises(DefinitionError, match="'solo' depends on itself"):
        with Pipeline("selfish"):
            solo = BashOperator("solo", command="true")
            solo >> solo


def test_duplicate_task_id() -> None:
    with pytest.raises(DefinitionError, match="duplicate task id 'load'") as info:
        with Pipeline("dupes"):
            BashOperator("load", command="true")
            BashOperator("load", command="false")
    assert info.value.pipeline == "dupes"


def test_dependency_across_pipelines() -> None:
    with Pipeline("first"):
        a = BashOperator("a", command="true")
    with Pipeline("second"):
        b = BashOperator("b", command="true")
        with pytest.raises(DefinitionError, match="cross pipelines") as info:
            a >> b
    assert {"'a'", "'b'", "'first'", "'second'"} <= set(re.findall(r"'[^']+'", str(info.value)))


def test_data_dependency_across_pipelines() -> None:
    @task
    def use(x: object) -> None:
        pass

    with Pipeline("owner"):
        result = noop()
    with pytest.raises(DefinitionError, match="uses the result of 'noop', which belongs to 'owner'"):
        with Pipeline("thief"):
            use(result)


def test_unknown_option_in_task_decorator() -> None:
    with pytest.raises(DefinitionError, match=r"@task flaky: unknown option\(s\) retrys"):

        @task(retrys=3)  # type: ignore[call-overload,untyped-decorator]
        def flaky() -> None: ...


def test_unknown_option_in_default_args() -> None:
    with pytest.raises(DefinitionError, match=r"default_args: unknown option\(s\) retry\b") as info:
        Pipeline("bad_defaults", default_args={"retry": 1})
    assert info.value.pipeline == "bad_defaults"


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("61 * * * *", "'61 \\* \\* \\* \\*' is not a valid cron expression"),
        ("every day", "'every day' is not a cron expression"),
        ("@dayly", "unknown preset '@dayly'"),
    ],
)
def test_bad_schedule(schedule: str, expected: str) -> None:
    with pytest.raises(DefinitionError, match=expected) as info:
        Pipeline("scheduled", schedule=schedule)
    assert info.value.pipeline == "scheduled"


def test_good_schedules_are_accepted() -> None:
    assert Pipeline("cron", schedule="0 6 * * 1-5").cron == "0 6 * * 1-5"
    assert Pipeline("preset", schedule="@daily").cron == "0 0 * * *"


def test_bad_timezone() -> None:
    with pytest.raises(DefinitionError, match="unknown timezone 'Mars/Olympus_Mons'"):
        Pipeline("tz", timezone="Mars/Olympus_Mons")


def test_bad_duration_in_task_options() -> None:
    with pytest.raises(DefinitionError, match="task 'slow': timeout: cannot read '5 minutes' as a duration"):

        @task(timeout="5 minutes")
        def slow() -> None: ...

        with Pipeline("durations"):
            slow()


def test_an_option_error_inside_the_block_names_the_pipeline() -> None:
    with pytest.raises(DefinitionError) as info:
        with Pipeline("located"):
            noop.with_options(retries=-1)()
    assert info.value.pipeline == "located"
    assert str(info.value).startswith("pipeline 'located': task 'noop': retries:")


def test_bad_duration_in_pipeline_and_default_args() -> None:
    with pytest.raises(DefinitionError, match="timeout: cannot read '5 minutes'"):
        Pipeline("run_timeout", timeout="5 minutes")
    with pytest.raises(DefinitionError, match="retry_delay: cannot read '5 minutes'"):
        with Pipeline("default_delay", default_args={"retry_delay": "5 minutes"}):
            noop()


def test_bad_trigger_rule() -> None:
    with pytest.raises(DefinitionError, match="unknown trigger rule 'all_sucess'"):
        with Pipeline("rules"):
            noop.with_options(trigger_rule="all_sucess")()


def test_unknown_pool_is_reported_when_running() -> None:
    with Pipeline("pools") as p:
        noop.with_options(pool="warehouse")()
    with pytest.raises(DefinitionError, match="task 'noop' uses pool 'warehouse', which is not defined"):
        run_pipeline(p, pools={"api": 2})


def test_pool_slots_larger_than_the_pool() -> None:
    with Pipeline("greedy") as p:
        noop.with_options(pool="api", pool_slots=3)()
    with pytest.raises(DefinitionError, match="task 'noop' needs 3 slots of pool 'api', which has only 2"):
        run_pipeline(p, pools={"api": 2})


def test_unknown_operator_names_the_package_to_install() -> None:
    with pytest.raises(DefinitionError, match=r"'postgres\.query'") as info:
        load_operator("postgres.query")
    assert "'headwater-postgres'" in str(info.value)
    assert "install" in str(info.value)
    assert load_operator("bash") is BashOperator


def test_unknown_executor_names_the_package_to_install() -> None:
    with pytest.raises(DefinitionError, match="'celery'") as info:
        load_executor("celery")
    assert "headwater-celery" in str(info.value)
