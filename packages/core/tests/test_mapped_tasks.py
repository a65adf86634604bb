"""Dynamic tasks: ``task.map(items)`` runs one instance per item, retried on its own, gathered into a list."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from headwater import Pipeline, Skip, task, unmapped
from headwater.cli.app import cli
from headwater.engine.clock import FakeClock
from headwater.engine.run import INTERRUPTED, RunEngine
from headwater.errors import DefinitionError
from headwater.executors.inline import InlineExecutor
from headwater.loader.files import remember
from headwater.model.context import Context
from headwater.model.mapped import MappedOperator, parse_instance_id
from headwater.store.database import connect
from headwater.store.repository import Store
from headwater.testing import run_pipeline


@task
def numbers() -> list[int]:
    return [1, 2, 3]


@task
def double(x: int) -> int:
    return x * 2


@task
def total(xs: list[int]) -> int:
    return sum(xs)


def _instances(tries: dict[str, list[object]], node: str) -> list[str]:
    return sorted((t for t in tries if parse_instance_id(t) and t.startswith(f"{node}[")), key=lambda t: len(t))


# -- running -----------------------------------------------------------------------------------


def test_a_static_list_runs_one_instance_per_item_and_gathers_their_results() -> None:
    with Pipeline("static") as p:
        node = double.map([5, 6, 7, 8])
    assert isinstance(node, MappedOperator) and list(p.tasks) == ["double"]  # one graph node
    result = run_pipeline(p, clock=FakeClock())
    assert result.ok
    assert result.results["double"] == [10, 12, 14, 16]
    assert [result.results[f"double[{i}]"] for i in range(4)] == [10, 12, 14, 16]
    assert [result.task_state(f"double[{i}]") for i in range(4)] == ["success"] * 4
    assert [len(result.tries[f"double[{i}]"]) for i in range(4)] == [1, 1, 1, 1]


def test_items_may_come_from_an_upstream_result_and_downstream_gets_the_list_in_order() -> None:
    @task
    def letters() -> list[str]:
        return ["c", "a", "b", "d", "e", "f", "g", "h", "i", "j", "k", "l"]

    @task
    def shout(ctx: Context, s: str) -> str:
        return f"{ctx.map_index}:{s.upper()}"

    @task
    def join(parts: list[str]) -> str:
        return ",".join(parts)

    with Pipeline("from_upstream") as p:
        join(shout.map(letters()))
    result = run_pipeline(p, clock=FakeClock())
    assert result.ok
    assert result.results["join"] == "0:C,1:A,2:B,3:D,4:E,5:F,6:G,7:H,8:I,9:J,10:K,11:L"
    assert result.summary.task("shout").state == "success"
    assert result.summary.task("shout[11]").state == "success"


def test_mapped_arguments_are_zipped_and_unmapped_ones_passed_whole() -> None:
    @task
    def label(n: int, name: str, *, sep: str, extra: dict[str, int]) -> str:
        return f"{name}{sep}{n}{sep}{extra['k']}"

    with Pipeline("zipped") as p:
        label.map(numbers(), ["a", "b", "c"], sep=unmapped("-"), extra=unmapped({"k": 9}))
    result = run_pipeline(p, clock=FakeClock())
    assert result.ok
    assert result.results["label"] == ["a-1-9", "b-2-9", "c-3-9"]


def test_an_unmapped_upstream_result_reaches_every_instance_whole() -> None:
    @task
    def config() -> dict[str, int]:
        return {"factor": 3}

    @task
    def scale(x: int, cfg: dict[str, int]) -> int:
        return x * cfg["factor"]

    with Pipeline("unmapped_upstream") as p:
        scale.map(numbers(), cfg=unmapped(config()))
    assert sorted(p.upstream["scale"]) == ["config", "numbers"]
    result = run_pipeline(p, clock=FakeClock())
    assert result.results["scale"] == [3, 6, 9]


def test_each_instance_is_retried_on_its_own() -> None:
    calls: list[tuple[int, int]] = []

    @task(retries=2, retry_delay="30s")
    def fetch(ctx: Context, item: int) -> int:
        calls.append((item, ctx.try_number))
        if item == 2 and ctx.try_number == 1:
            raise ConnectionError("flaky item 2")
        return item

    with Pipeline("retry_each") as p:
        fetch.map([1, 2, 3])
    clock = FakeClock()
    result = run_pipeline(p, clock=clock)
    assert result.ok
    assert result.results["fetch"] == [1, 2, 3]
    assert {t: len(result.tries[t]) for t in ("fetch[0]", "fetch[1]", "fetch[2]")} == {
        "fetch[0]": 1,
        "fetch[1]": 2,
        "fetch[2]": 1,
    }
    assert [(t.state, t.error) for t in result.tries["fetch[1]"]] == [
        ("failed", "ConnectionError: flaky item 2"),
        ("success", None),
    ]
    assert sorted(calls) == [(1, 1), (2, 1), (2, 2), (3, 1)]
    assert clock.waited == [30.0]  # the retry delay of the one instance, nothing else waited


def test_a_map_over_an_empty_list_succeeds_with_an_empty_list() -> None:
    @task
    def nothing() -> list[int]:
        return []

    with Pipeline("empty") as p:
        total(double.map(nothing()))
    result = run_pipeline(p, clock=FakeClock())
    assert result.ok
    assert result.results["double"] == []
    assert result.results["total"] == 0
    assert not [t for t in result.tries if t.startswith("double[")]


def test_a_failed_instance_fails_the_node_and_its_downstream_is_upstream_failed() -> None:
    @task
    def parse(x: int) -> int:
        if x == 2:
            raise ValueError(f"bad record {x}")
        return x

    @task(trigger_rule="all_done")
    def cleanup() -> str:
        return "cleaned"

    with Pipeline("one_fails") as p:
        parsed = parse.map([1, 2, 3])
        total(parsed)
        parsed >> cleanup()
    result = run_pipeline(p, clock=FakeClock())
    assert result.state == "failed"
    assert [result.task_state(f"parse[{i}]") for i in range(3)] == ["success", "failed", "success"]
    node = result.summary.task("parse")
    assert node.state == "failed"
    assert node.error == "1 of 3 instances failed (parse[1]: ValueError: bad record 2)"
    assert result.task_state("total") == "upstream_failed"
    assert result.results["cleanup"] == "cleaned"  # trigger rules apply to the node as to any task
    assert result.tries["parse"][0].error == node.error  # recorded, for history and why


def test_a_skipped_instance_leaves_none_in_the_gathered_list() -> None:
    @task
    def maybe(x: int) -> int:
        if x == 2:
            raise Skip("nothing for 2")
        return x

    @task
    def count(xs: list[int | None]) -> int:
        return len(xs)

    with Pipeline("skips") as p:
        count(maybe.map([1, 2, 3]))
    result = run_pipeline(p, clock=FakeClock())
    assert result.ok
    assert result.task_state("maybe[1]") == "skipped"
    assert result.task_state("maybe") == "success"
    assert result.results["maybe"] == [1, None, 3]
    assert result.results["count"] == 3


def test_lengths_that_differ_at_run_time_fail_the_node_naming_them() -> None:
    @task
    def two() -> list[int]:
        return [1, 2]

    @task
    def add(a: int, b: int) -> int:
        return a + b

    with Pipeline("mismatch") as p:
        total(add.map(numbers(), two()))
    result = run_pipeline(p, clock=FakeClock())
    assert result.state == "failed"
    error = result.summary.task("add").error
    assert error == (
        "cannot map 'add': mapped arguments have different lengths: a (result of 'numbers') has 3, "
        "b (result of 'two') has 2 (they are zipped, so they must have the same length)"
    )
    assert result.task_state("total") == "upstream_failed"
    assert not [t for t in result.tries if t.startswith("add[")]  # no instance was created


def test_an_upstream_result_that_is_not_a_list_fails_the_node() -> None:
    @task
    def config() -> dict[str, int]:
        return {"a": 1}

    with Pipeline("not_a_list") as p:
        double.map(config())
    result = run_pipeline(p, clock=FakeClock())
    assert result.state == "failed"
    assert result.summary.task("double").error == "cannot map 'double': the result of 'config' is a dict, not a list"


def test_instances_of_a_repeated_map_get_their_own_ids() -> None:
    with Pipeline("twice") as p:
        double.map([1])
        double.map([2, 3])
    result = run_pipeline(p, clock=FakeClock())
    assert result.results["double"] == [2]
    assert result.results["double__2"] == [4, 6]
    assert result.results["double__2[1]"] == 6


def test_instances_inherit_the_node_options() -> None:
    seen: list[tuple[str, int]] = []

    @task(retries=1, retry_delay=5)
    def flaky(ctx: Context, x: int) -> int:
        seen.append((ctx.task_id, ctx.try_number))
        raise ConnectionError("always")

    with Pipeline("options", default_args={"priority": 3}) as p:
        flaky.map([1, 2])
    result = run_pipeline(p, clock=FakeClock())
    assert result.state == "failed"
    assert sorted(seen) == [("flaky[0]", 1), ("flaky[0]", 2), ("flaky[1]", 1), ("flaky[1]", 2)]
    assert result.summary.task("flaky").error is not None
    assert result.summary.task("flaky").error.startswith("2 of 2 instances failed (flaky[0]: ConnectionError: always")  # type: ignore[union-attr]


# -- resuming ----------------------------------------------------------------------------------


def test_resume_does_not_rerun_instances_that_succeeded(db_url: str) -> None:
    calls: list[int] = []
    crash = {"at": 2}

    @task
    def items() -> list[int]:
        calls.append(-1)
        return [10, 20, 30, 40]

    @task
    def work(x: int) -> int:
        calls.append(x)
        if crash["at"] == x // 10 - 1:
            raise KeyboardInterrupt  # escapes the worker, like the process being killed
        return x + 1

    with Pipeline("mapped_resume") as p:
        total(work.map(items()))
    remember(p)
    store = Store(connect(db_url))
    try:
        engine = RunEngine(p, store, InlineExecutor(), clock=FakeClock())
        record = engine.create_run()
        with pytest.raises(KeyboardInterrupt):
            engine.run(record)
        assert calls == [-1, 10, 20, 30]
        states = {ti.task_id: ti.state for ti in store.task_instances(record.run_id)}
        assert states == {
            "items": "success",
            "work": "running",
            "work[0]": "success",
            "work[1]": "success",
            "work[2]": "queued",
            "work[3]": "scheduled",
            "total": "scheduled",
        }

        crash["at"] = -1
        crashed = store.get_run(record.run_id)
        assert crashed is not None
        again = RunEngine(p, store, InlineExecutor(), clock=FakeClock(), owner=engine.owner)
        summary = again.run(crashed, resumed=True)
        assert summary.ok
        assert calls == [-1, 10, 20, 30, 30, 40]  # items, work[0] and work[1] kept their success
        assert json.loads(store.results(record.run_id)["total"][1]) == 11 + 21 + 31 + 41
        assert [(t.try_number, t.state, t.error) for t in store.tries(record.run_id, "work[2]")] == [
            (1, "failed", INTERRUPTED),
            (2, "success", None),
        ]
        assert len(store.tries(record.run_id, "work[0]")) == 1
        instances = [ti.task_id for ti in store.task_instances(record.run_id) if ti.task_id.startswith("work[")]
        assert sorted(instances) == ["work[0]", "work[1]", "work[2]", "work[3]"]
    finally:
        store.close()


def test_resume_keeps_the_stored_expansion_even_if_the_items_changed(db_url: str) -> None:
    """The instances were created from the first expansion: a resumed run reuses them, it does not re-count."""
    source = {"items": [1, 2, 3]}
    crash = {"on": True}

    @task
    def fan(x: int) -> int:
        if crash["on"] and x == 3:
            raise KeyboardInterrupt
        return x

    with Pipeline("stable_expansion") as p:
        fan.map(source["items"])
    remember(p)
    store = Store(connect(db_url))
    try:
        engine = RunEngine(p, store, InlineExecutor(), clock=FakeClock())
        record = engine.create_run()
        with pytest.raises(KeyboardInterrupt):
            engine.run(record)
        crash["on"] = False
        with Pipeline("stable_expansion") as changed:
            fan.map([1, 2, 3, 4, 5])  # the definition now maps over five items
        remember(changed)
        crashed = store.get_run(record.run_id)
        assert crashed is not None
        summary = RunEngine(changed, store, InlineExecutor(), clock=FakeClock(), owner=engine.owner).run(
            crashed, resumed=True
        )
        assert summary.ok
        assert json.loads(store.results(record.run_id)["fan"][1]) == [["json", "1"], ["json", "2"], ["json", "3"]]
    finally:
        store.close()


# -- definition errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: double.map("abc"),
            "task 'double': .map() maps over lists, tuples, ranges or a task's result; argument 'x' is a str: "
            "wrap it in unmapped(...) to pass it whole to every instance",
        ),
        (
            lambda: double.map({"a": 1}),
            "task 'double': .map() maps over lists, tuples, ranges or a task's result; argument 'x' is a dict: "
            "wrap it in unmapped(...) to pass it whole to every instance",
        ),
        (
            lambda: double.map(unmapped([1, 2])),
            "task 'double': .map() needs at least one argument to map over (every argument is wrapped in "
            "unmapped(...)); call the task instead",
        ),
        (
            lambda: double.map([1, 2], max_parallel=0),
            "task 'double': max_parallel: expected a whole number >= 1 or None, got 0",
        ),
        (
            lambda: double.map([1], y=[2]),
            "task 'double': .map() arguments do not fit the function: got an unexpected keyword argument 'y'",
        ),
        (
            lambda: total.with_options(id="pair").map([1, 2], [3]),
            "task 'pair': .map() arguments do not fit the function: too many positional arguments",
        ),
    ],
)
def test_bad_map_calls_are_definition_errors(build: object, message: str) -> None:
    with pytest.raises(DefinitionError) as info, Pipeline("bad"):
        build()  # type: ignore[operator]
    assert info.value.message == message
    assert info.value.pipeline == "bad"


def test_literal_lists_of_different_lengths_are_a_definition_error() -> None:
    @task
    def add(a: int, b: int) -> int:
        return a + b

    with pytest.raises(DefinitionError) as info, Pipeline("bad_lengths"):
        add.map([1, 2, 3], b=[1, 2])
    assert info.value.message == (
        "task 'add': .map() arguments have different lengths (a has 3, b has 2); "
        "mapped arguments are zipped, so they must have the same length"
    )


def test_map_outside_a_pipeline_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match=r"'double'\.map\(\) was called outside a `with Pipeline"):
        double.map([1, 2])


# -- the CLI -----------------------------------------------------------------------------------

MAPPED = """
from headwater import Pipeline, task

@task
def pages():
    return list(range(12))

@task(retries=1, retry_delay=0)
def fetch(ctx, page):
    if page == 7:
        raise ValueError(f"page {page} is broken")
    if page == 3 and ctx.try_number == 1:
        raise ConnectionError("flaky")
    return page

@task
def report(results):
    return len(results)

with Pipeline("crawl"):
    report(fetch.map(pages()))
"""


def _invoke(root: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--project", str(root), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"headwater {' '.join(args)} crashed:\n{result.output}") from result.exception
    return result


@pytest.fixture
def crawl(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "headwater.toml").write_text('executor = "inline"\n', encoding="utf-8")
    (root / "pipelines" / "crawl.py").write_text(textwrap.dedent(MAPPED), encoding="utf-8")
    run = _invoke(root, "run", "crawl", "-q")
    assert run.exit_code == 1, run.output
    match = re.search(r"^run (\S+) FAILED", run.output, re.MULTILINE)
    assert match, run.output
    assert "fetch[0..11]" in run.output and "11 success, 1 failed" in run.output  # the summary is compact
    assert "fetch[5] " not in run.output
    return root, match.group(1)


def test_history_shows_a_mapped_task_and_a_compact_summary_of_its_instances(crawl: tuple[Path, str]) -> None:
    root, run_id = crawl
    history = _invoke(root, "history", run_id)
    assert history.exit_code == 0, history.output
    lines = history.output.splitlines()
    node = next(line for line in lines if line.startswith("fetch "))
    assert " failed " in node and "1 of 12 instances failed (fetch[7]" in node and "[mapped over 12 items]" in node
    group = next(line for line in lines if line.lstrip().startswith("fetch[0..11]"))
    assert "11 success, 1 failed" in group
    assert "fetch[7] #2 failed" in group  # which instance failed, after how many tries
    assert "2 retried" in group  # fetch[3] (then succeeded) and fetch[7]
    assert not [line for line in lines if re.match(r"\s*fetch\[\d+\] ", line)]  # no row per instance
    assert any(line.startswith("report ") and "upstream_failed" in line for line in lines)


def test_why_explains_one_instance_of_a_mapped_task(crawl: tuple[Path, str]) -> None:
    root, run_id = crawl
    why = _invoke(root, "why", run_id, "fetch[7]")
    assert why.exit_code == 0, why.output
    assert "fetch[7]: failed" in why.output
    assert "ValueError: page 7 is broken" in why.output
    assert "=> fetch[7] is not running: it failed and has no tries left" in why.output
    node = _invoke(root, "why", run_id, "fetch")
    assert node.exit_code == 0, node.output
    assert "1 of 12 instances failed" in node.output


def test_cached_instances_reuse_their_own_results(tmp_path: Path) -> None:
    calls: list[int] = []

    @task(cache=True)
    def slow(x: int) -> int:
        calls.append(x)
        return x * 2

    with Pipeline("cached_map") as p:
        slow.map([1, 2, 3])
    db = f"sqlite:///{tmp_path / 'headwater.db'}"
    first = run_pipeline(p, clock=FakeClock(), workdir=tmp_path, db=db)
    second = run_pipeline(p, clock=FakeClock(), workdir=tmp_path, db=db)
    assert first.results["slow"] == second.results["slow"] == [2, 4, 6]
    assert sorted(calls) == [1, 2, 3]  # the second run ran no instance: each reused its own item's result
    assert all((second.tries[f"slow[{i}]"][0].note or "").startswith("cache hit") for i in range(3))


def test_an_instance_gets_its_item_whether_the_list_is_inline_in_the_result_store_or_also_used_whole() -> None:
    @task
    def big() -> list[str]:
        return [f"{i:06d}" + "x" * 100 for i in range(1000)]  # over 64 KB of JSON: kept in the result store

    @task
    def small() -> list[int]:
        return [3, 1, 2]

    @task
    def first6(s: str) -> str:
        return s[:6]

    @task
    def rank(x: int, everything: list[int]) -> int:
        return sorted(everything).index(x)

    @task
    def peek(ctx: Context, x: int) -> list[str]:
        return sorted(ctx.upstream)

    with Pipeline("item_sources") as p:
        numbers_ = small()
        first6.map(big())
        rank.map(numbers_, everything=unmapped(numbers_))
        peek.map(numbers_)
    result = run_pipeline(p, clock=FakeClock())
    assert result.ok
    firsts = result.results["first6"]
    assert isinstance(firsts, list) and firsts[:3] == ["000000", "000001", "000002"] and len(firsts) == 1000
    assert result.results["rank"] == [2, 0, 1]
    assert result.results["peek"] == [["small[0]"], ["small[1]"], ["small[2]"]]  # each instance: its item only


def test_a_list_of_upstream_tasks_maps_over_their_results() -> None:
    @task
    def a() -> int:
        return 1

    @task
    def b() -> int:
        return 2

    with Pipeline("list_of_tasks") as p:
        double.map([a(), b()])
    assert sorted(p.upstream["double"]) == ["a", "b"]
    result = run_pipeline(p, clock=FakeClock())
    assert result.results["double"] == [2, 4]


def test_an_upstream_without_a_result_fails_the_node_under_a_permissive_trigger_rule() -> None:
    @task
    def skipped() -> list[int]:
        raise Skip("no pages today")

    with Pipeline("no_result") as p:
        double.with_options(trigger_rule="none_failed").map(skipped())
    result = run_pipeline(p, clock=FakeClock())
    assert result.state == "failed"
    assert (
        result.summary.task("double").error
        == "cannot map 'double': 'skipped' has no result to map over (it is skipped)"
    )


def test_resume_keeps_a_mapped_task_that_succeeded_with_skipped_instances(db_url: str) -> None:
    broken = {"report": True}
    ran: list[int] = []

    @task
    def maybe(x: int) -> int:
        ran.append(x)
        if x == 2:
            raise Skip("nothing for 2")
        return x

    @task
    def report(xs: list[int | None]) -> int:
        if broken["report"]:
            raise RuntimeError("report store down")
        return len(xs)

    with Pipeline("resume_skipped") as p:
        report(maybe.map([1, 2, 3]))
    remember(p)
    store = Store(connect(db_url))
    try:
        engine = RunEngine(p, store, InlineExecutor(), clock=FakeClock())
        record = engine.create_run()
        assert engine.run(record).state == "failed"
        broken["report"] = False
        stored = store.get_run(record.run_id)
        assert stored is not None
        resumed = engine.run(stored, resumed=True)
        assert resumed.ok
        assert sorted(ran) == [1, 2, 3]  # no instance ran again, not even the skipped one
        assert json.loads(store.results(record.run_id)["report"][1]) == 3
        states = {ti.task_id: ti.state for ti in store.task_instances(record.run_id) if ti.task_id.startswith("maybe")}
        assert states == {"maybe": "success", "maybe[0]": "success", "maybe[1]": "skipped", "maybe[2]": "success"}
    finally:
        store.close()


def test_resume_after_an_instance_failed_reruns_only_the_failed_instances(db_url: str) -> None:
    ran: list[int] = []
    broken = {"on": True}

    @task
    def fragile(x: int) -> int:
        ran.append(x)
        if broken["on"] and x % 2 == 0:
            raise ValueError(f"item {x}")
        return x

    with Pipeline("resume_failed") as p:
        total(fragile.map([1, 2, 3, 4]))
    remember(p)
    store = Store(connect(db_url))
    try:
        engine = RunEngine(p, store, InlineExecutor(), clock=FakeClock())
        record = engine.create_run()
        first = engine.run(record)
        assert first.state == "failed" and first.task("fragile").error == (
            "2 of 4 instances failed (fragile[1]: ValueError: item 2; and 1 more)"
        )
        broken["on"] = False
        stored = store.get_run(record.run_id)
        assert stored is not None
        assert engine.run(stored, resumed=True).ok
        assert sorted(ran) == [1, 2, 2, 3, 4, 4]
        assert json.loads(store.results(record.run_id)["total"][1]) == 10
        assert [(t.try_number, t.state) for t in store.tries(record.run_id, "fragile")] == [
            (1, "failed"),
            (2, "success"),
        ]
    finally:
        store.close()
