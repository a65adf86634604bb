"""Trigger rules through real runs: which upstream outcomes make a task run, skip or fail upstream."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from headwater import Operator, Pipeline, Skip, TriggerRule, task
from headwater.testing import run_pipeline


@task
def ok() -> str:
    return "ok"


@task
def fail() -> None:
    raise RuntimeError("boom")


@task
def skip() -> None:
    raise Skip("nothing to do")


@task
def target() -> str:
    return "ran"


UPSTREAM: dict[str, Callable[[], Operator]] = {"ok": ok, "fail": fail, "skip": skip}


CASES = [
    ("all_success", ["ok", "ok"], "success"),
    ("all_success", ["ok", "fail"], "upstream_failed"),
    ("all_success", ["ok", "skip"], "skipped"),
    ("all_failed", ["fail", "fail"], "success"),
    ("all_failed", ["fail", "ok"], "skipped"),
    ("all_failed", ["fail", "skip"], "skipped"),
    ("all_done", ["ok", "fail", "skip"], "success"),
    ("one_success", ["fail", "ok"], "success"),
    ("one_success", ["fail", "fail"], "upstream_failed"),
    ("one_success", ["skip", "skip"], "skipped"),
    ("one_failed", ["ok", "fail"], "success"),
    ("one_failed", ["ok", "skip"], "skipped"),
    ("none_failed", ["ok", "skip"], "success"),
    ("none_failed", ["ok", "fail"], "upstream_failed"),
    ("none_skipped", ["ok", "fail"], "success"),
    ("none_skipped", ["ok", "skip"], "skipped"),
    ("always", ["fail", "skip"], "success"),
]


@pytest.mark.parametrize(("rule", "upstream", "expected"), CASES)
def test_trigger_rule(rule: str, upstream: list[str], expected: str) -> None:
    with Pipeline(f"rule_{rule}") as p:
        ups = [UPSTREAM[kind]() for kind in upstream]
        ups >> target.with_options(trigger_rule=rule)()
    result = run_pipeline(p)
    assert result.task_state("target") == expected
    assert ("target" in result.results) == (expected == "success")
    assert result.state == ("failed" if "fail" in upstream or expected == "upstream_failed" else "success")


def test_the_cases_cover_every_rule() -> None:
    assert {rule for rule, _, _ in CASES} == {r.value for r in TriggerRule}
    assert len(TriggerRule) == 8


def test_failure_propagates_as_upstream_failed_down_a_chain() -> None:
    ran: list[str] = []

    @task
    def step(name: str) -> None:
        ran.append(name)

    with Pipeline("fail_chain") as p:
        fail() >> step("b") >> step("c") >> step("d")
    result = run_pipeline(p)
    assert result.state == "failed"
    assert ran == []
    assert [t.state for t in result.summary.tasks] == [
        "failed",
        "upstream_failed",
        "upstream_failed",
        "upstream_failed",
    ]
    assert result.tries.keys() == {"fail"}  # nothing else was even tried


def test_skip_propagates_down_a_chain_until_a_rule_that_tolerates_it() -> None:
    with Pipeline("skip_chain") as p:
        skip() >> ok() >> ok() >> target.with_options(trigger_rule="all_done")()
    result = run_pipeline(p)
    assert result.ok  # skipped tasks do not fail a run
    states = {t.task_id: t.state for t in result.summary.tasks}
    assert states == {"skip": "skipped", "ok": "skipped", "ok__2": "skipped", "target": "success"}


def test_a_skipping_task_records_its_reason() -> None:
    with Pipeline("skip_reason") as p:
        skip()
    result = run_pipeline(p)
    [attempt] = result.tries["skip"]
    assert attempt.state == "skipped"
    assert attempt.error == "nothing to do"
