"""Defining pipelines: task ids, options, dependencies, params, and the built-in operators."""

from __future__ import annotations

import pytest

from headwater import BashOperator, Pipeline, PythonOperator, TriggerRule, task
from headwater.model.context import Context
from headwater.testing import run_pipeline


@task
def extract() -> int:
    return 1


@task
def add_one(x: int) -> int:
    return x + 1


def test_task_id_is_the_function_name_and_repeated_calls_get_numbered() -> None:
    with Pipeline("repeats") as p:
        first, second, third = extract(), extract(), extract()
    assert [first.task_id, second.task_id, third.task_id] == ["extract", "extract__2", "extract__3"]
    assert list(p.tasks) == ["extract", "extract__2", "extract__3"]


def test_with_options_overrides_id_and_options_without_changing_the_original() -> None:
    custom = extract.with_options(id="t7", retries=4, trigger_rule="all_done")
    with Pipeline("with_options") as p:
        plain = extract()
        t7 = custom()
    assert set(p.tasks) == {"extract", "t7"}
    assert t7.options.retry.retries == 4
    assert t7.options.trigger_rule is TriggerRule.ALL_DONE
    assert plain.options.retry.retries == 0
    assert plain.options.trigger_rule is TriggerRule.ALL_SUCCESS


def test_passing_a_result_makes_a_data_dependency_and_hands_over_the_value() -> None:
    @task
    def combine(values: list[int], *, extra: dict[str, int]) -> int:
        return sum(values) + extra["n"]

    with Pipeline("data_deps") as p:
        a = extract()
        b = add_one(a)
        c = combine([a, b], extra={"n": b})
    assert p.upstream[b.task_id] == {"extract"}
    assert p.upstream[c.task_id] == {"extract", "add_one"}
    result = run_pipeline(p)
    assert result.ok
    assert result.results == {"extract": 1, "add_one": 2, "combine": 1 + 2 + 2}


def test_shift_operators_fan_out_and_fan_in_with_lists() -> None:
    ran: list[str] = []

    def record(name: str) -> PythonOperator:
        return PythonOperator(name, fn=ran.append, args=(name,))

    with Pipeline("fan") as p:
        start, b, c, end, late = (record(n) for n in ("start", "b", "c", "end", "late"))
        start >> [b, c]  # fan-out
        [b, c] >> end  # fan-in
        late << end  # late runs after end
        e, f = record("e"), record("f")
        [e, f] << start  # start runs before e and f
    assert p.upstream == {
        "start": set(),
        "b": {"start"},
        "c": {"start"},
        "end": {"b", "c"},
        "late": {"end"},
        "e": {"start"},
        "f": {"start"},
    }
    result = run_pipeline(p)
    assert result.ok
    assert ran[0] == "start"
    assert ran.index("end") > max(ran.index("b"), ran.index("c"))
    assert ran.index("late") > ran.index("end")


def test_a_chain_of_shifts_returns_the_right_hand_side() -> None:
    with Pipeline("chain") as p:
        a, b, c = (BashOperator(n, command="true") for n in "abc")
        assert (a >> b >> c) is c
    assert p.order == ["a", "b", "c"]


def test_default_args_apply_to_every_task_and_explicit_options_win() -> None:
    @task(retries=0, owner="alice")
    def explicit() -> None: ...

    @task
    def implicit() -> None: ...

    defaults = {"retries": 2, "retry_delay": "5m", "owner": "data-team", "pool": "api"}
    with Pipeline("defaults", default_args=defaults) as p:
        e = explicit()
        i = implicit()
        bash = BashOperator("bash", command="true", retry_delay=30)
    assert (e.options.retry.retries, e.options.owner) == (0, "alice")
    assert e.options.retry.delay == 300.0
    assert (i.options.retry.retries, i.options.owner, i.options.pool) == (2, "data-team", "api")
    assert bash.options.retry.delay == 30.0
    assert bash.options.retry.retries == 2
    assert p.default_args == defaults


def test_params_defaults_and_overrides_reach_ctx() -> None:
    @task
    def read(ctx: Context) -> dict[str, object]:
        return dict(ctx.params)

    with Pipeline("params", params={"day": "2026-01-01", "limit": 10, "dry": False}) as p:
        read()
    assert run_pipeline(p).results["read"] == {"day": "2026-01-01", "limit": 10, "dry": False}
    overridden = run_pipeline(p, params={"limit": "25", "dry": "true"})
    assert overridden.results["read"] == {"day": "2026-01-01", "limit": 25, "dry": True}


def test_tags_on_pipeline_and_task() -> None:
    with Pipeline("tagged", tags=["etl", "daily"]) as p:
        t = extract.with_options(tags=["critical"])()
    assert p.tags == ("etl", "daily")
    assert t.options.tags == ("critical",)


def test_ctx_carries_run_identity_and_try_number() -> None:
    @task
    def who(ctx: Context) -> list[object]:
        return [ctx.run_id, ctx.pipeline_id, ctx.task_id, ctx.try_number]

    with Pipeline("identity") as p:
        who()
    result = run_pipeline(p)
    assert result.results["who"] == [result.summary.run_id, "identity", "who", 1]


def test_python_operator_calls_fn_with_ctx_args_and_kwargs() -> None:
    def scale(ctx: Context, value: int, *, factor: int) -> str:
        return f"{ctx.task_id}:{value * factor}"

    def no_ctx(a: int, b: int) -> int:
        return a - b

    with Pipeline("python_op") as p:
        base = extract()
        scaled = PythonOperator("scaled", fn=scale, args=(base,), kwargs={"factor": 7})
        PythonOperator("plain", fn=no_ctx, args=(10, 3))
    assert p.upstream["scaled"] == {"extract"}
    assert scaled.options.retry.retries == 0
    result = run_pipeline(p)
    assert result.results["scaled"] == "scaled:7"
    assert result.results["plain"] == 7


def test_bash_operator_result_is_the_last_line_of_stdout() -> None:
    with Pipeline("bash_ok", params={"region": "eu"}) as p:
        BashOperator("lines", command='echo first; echo second; echo "$HEADWATER_TASK_ID-$HEADWATER_PARAM_REGION"')
        BashOperator("silent", command="true")
    result = run_pipeline(p)
    assert result.ok
    assert result.results["lines"] == "lines-eu"
    assert result.results.get("silent") is None


def test_bash_operator_fails_on_non_zero_exit_with_status_and_output() -> None:
    with Pipeline("bash_fail") as p:
        BashOperator("broken", command="echo 'disk is full' >&2; exit 3")
    result = run_pipeline(p)
    assert result.state == "failed"
    summary = result.summary.task("broken")
    assert summary.state == "failed"
    assert summary.error is not None
    assert "exited with status 3" in summary.error
    assert "disk is full" in summary.error


def test_calling_a_task_outside_a_pipeline_is_an_error() -> None:
    from headwater.errors import DefinitionError

    with pytest.raises(DefinitionError, match="outside a `with Pipeline"):
        extract()
    assert extract.fn() == 1
