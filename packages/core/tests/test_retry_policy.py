"""The retry policy on its own: Retry.plan (jitter, retry budget, retry_on), and how its options validate."""

from __future__ import annotations

import random

import pytest

from headwater import Pipeline, Retry, task
from headwater.errors import DefinitionError
from headwater.model.context import Context
from headwater.model.options import OPTION_NAMES, resolve_options
from headwater.model.retry import RetryDecision, compact_duration

MIN, HOUR = 60.0, 3600.0


def test_first_failure_is_retried_after_the_delay() -> None:
    policy = Retry.build(retries=3, delay="90s")
    decision = policy.plan(tries=1, retryable=True, now=1000.0, first_started_at=990.0)
    assert decision == RetryDecision(retry=True, delay=90.0, retry_number=1, reason="retry 1 of 3 in 1m30s")


def test_backoff_doubles_per_retry_and_is_capped() -> None:
    policy = Retry.build(retries=5, delay="1m", backoff=True, max_delay="5m")
    delays = [policy.plan(tries=n, retryable=True, now=0.0, first_started_at=0.0).delay for n in range(1, 6)]
    assert delays == [60.0, 120.0, 240.0, 300.0, 300.0]
    assert delays == [policy.delay_before(n) for n in range(1, 6)]


def test_no_retries_left_after_the_last_try() -> None:
    decision = Retry.build(retries=2).plan(tries=3, retryable=True, now=0.0, first_started_at=0.0)
    assert not decision.retry
    assert decision.reason == "no retries left (3 tries)"
    assert decision.final_error("ConnectionError: refused") == "ConnectionError: refused"


def test_zero_retries_fails_on_the_only_try() -> None:
    decision = Retry().plan(tries=1, retryable=True, now=0.0, first_started_at=0.0)
    assert (decision.retry, decision.reason) == (False, "no retries left (1 try)")


def test_an_error_outside_retry_on_fails_at_once_and_says_why() -> None:
    policy = Retry.build(retries=3, retry_on=(ConnectionError, TimeoutError))
    assert policy.is_retryable(ConnectionRefusedError()) and not policy.is_retryable(ValueError())
    decision = policy.plan(tries=1, retryable=False, now=0.0, first_started_at=0.0, error_type="ValueError")
    assert not decision.retry
    assert decision.reason == "not retryable: ValueError is not in retry_on (ConnectionError, TimeoutError)"


def test_the_engine_formula_for_resumed_runs_plugs_into_tries() -> None:
    """A resumed instance keeps its try numbers: the engine passes the tries made under this policy."""
    options = resolve_options({"retries": 2}, where="t")
    ti_try_number, ti_max_tries = 5, 4 + options.max_tries  # 4 tries before the resume, then 1 more
    tries = ti_try_number - (ti_max_tries - options.max_tries)
    decision = options.retry.plan(tries=tries, retryable=True, now=0.0, first_started_at=0.0)
    assert (decision.retry, decision.retry_number) == (True, 1)
    assert decision.retry == (ti_try_number < ti_max_tries)


# -- jitter ---------------------------------------------------------------------------------------


def test_jitter_is_deterministic_under_an_injected_rng() -> None:
    policy = Retry.build(retries=5, delay="10m", jitter=0.5)

    def delays(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [policy.plan(tries=n, retryable=True, now=0, first_started_at=0, rng=rng).delay for n in (1, 2, 3)]

    assert delays(7) == delays(7)
    assert delays(7) != delays(8)


def test_jitter_draws_within_the_fraction_and_never_exceeds_max_delay() -> None:
    policy = Retry.build(retries=10, delay="1m", backoff=True, max_delay="4m", jitter=0.25)
    rng = random.Random(1)
    for retry_number in range(1, 8):
        full = policy.delay_before(retry_number)
        draws = [policy.jittered_delay(retry_number, rng) for _ in range(200)]
        assert all(full * 0.75 <= d <= full <= 240.0 for d in draws), (retry_number, min(draws), max(draws))
        assert len(set(draws)) > 100  # really spread, not a constant
        assert min(draws) < full * 0.8 and max(draws) > full * 0.95


def test_true_means_full_jitter_and_false_means_none() -> None:
    full = Retry.build(retries=1, delay=100, jitter=True)
    assert full.jitter == 1.0
    draws = [full.jittered_delay(1, random.Random(seed)) for seed in range(300)]
    assert min(draws) < 10 and max(draws) > 90 and all(0 <= d <= 100 for d in draws)
    assert Retry.build(retries=1, delay=100, jitter=False).jittered_delay(1, random.Random(0)) == 100.0
    assert Retry.build(retries=1, delay=100).jitter == 0.0


# -- retry budget -----------------------------------------------------------------------------------


def test_budget_message_when_a_retry_would_start_too_late() -> None:
    policy = Retry.build(retries=10, delay="5m", budget="2h")
    now = 1_000_000.0
    decision = policy.plan(tries=3, retryable=True, now=now, first_started_at=now - (2 * HOUR + 4 * MIN))
    assert not decision.retry and decision.budget_exhausted
    assert decision.reason == "retry budget of 2h exhausted after 3 tries (2h04m since the first try started)"
    assert decision.final_error("TimeoutError: slow") == f"{decision.reason}; last error: TimeoutError: slow"


def test_budget_refuses_a_retry_whose_delay_would_cross_it() -> None:
    policy = Retry.build(retries=10, delay="30m", budget="2h")
    inside = policy.plan(tries=2, retryable=True, now=80 * MIN, first_started_at=0.0)
    assert inside.retry and inside.delay == 30 * MIN  # starts at 1h50m: inside the budget
    crossing = policy.plan(tries=3, retryable=True, now=100 * MIN, first_started_at=0.0)
    assert not crossing.retry
    assert crossing.reason == (
        "retry budget of 2h exhausted after 3 tries (1h40m since the first try started;"
        " the next retry would start after 2h10m)"
    )


def test_war_story_retries_cannot_turn_a_2_hour_pipeline_into_47_hours() -> None:
    """Exponential backoff from 5 minutes, 10 retries, 40-minute tries: without a budget ~3.5 days, with one < 3h."""
    unbounded = Retry.build(retries=10, delay="5m", backoff=True)
    bounded = Retry.build(retries=10, delay="5m", backoff=True, budget="3h")
    try_length = 40 * MIN

    def total(policy: Retry) -> tuple[float, int, RetryDecision]:
        now, tries = try_length, 1
        while (decision := policy.plan(tries=tries, retryable=True, now=now, first_started_at=0.0)).retry:
            now += decision.delay + try_length
            tries += 1
        return now, tries, decision

    unbounded_end, _, _ = total(unbounded)
    bounded_end, tries, final = total(bounded)
    assert unbounded_end > 47 * HOUR
    assert bounded_end - try_length <= 3 * HOUR  # no try starts after the budget
    assert tries == 4
    assert final.budget_exhausted and final.reason.startswith("retry budget of 3h exhausted after 4 tries")


def test_budget_counts_from_now_when_the_first_start_is_unknown() -> None:
    policy = Retry.build(retries=3, delay="10m", budget="15m")
    assert policy.plan(tries=1, retryable=True, now=500.0, first_started_at=None).retry
    too_long = Retry.build(retries=3, delay="20m", budget="15m")
    assert not too_long.plan(tries=1, retryable=True, now=500.0, first_started_at=None).retry


def test_budget_applies_to_the_jittered_delay() -> None:
    policy = Retry.build(retries=3, delay="10m", jitter=1.0, budget="10m")
    rng = random.Random(3)
    decisions = [policy.plan(tries=1, retryable=True, now=300.0, first_started_at=0.0, rng=rng) for _ in range(50)]
    assert all(d.retry == (300.0 + d.delay <= 600.0) for d in decisions if d.retry)
    assert {d.retry for d in decisions} == {True, False}


# -- options ----------------------------------------------------------------------------------------


def test_new_options_are_task_options_and_default_args() -> None:
    assert {"retry_jitter", "retry_budget", "circuit_breaker"} <= OPTION_NAMES
    options = resolve_options(
        {"retry_budget": "90m"},
        {"retries": 2, "retry_jitter": 0.5, "circuit_breaker": 5},
        where="task 'extract'",
    )
    assert (options.retry.retries, options.retry.jitter, options.retry.budget) == (2, 0.5, 5400.0)
    assert options.circuit_breaker == 5
    assert resolve_options({}, where="t").circuit_breaker is None
    assert resolve_options({"retry_budget": None, "circuit_breaker": None}, where="t").retry.budget is None


def test_decorated_task_and_with_options_carry_the_new_options() -> None:
    @task(retries=3, retry_jitter=True, retry_budget="2h", circuit_breaker=3)
    def extract(ctx: Context) -> None: ...

    with Pipeline("opts", default_args={"circuit_breaker": 2}) as p:
        extract()
        extract.with_options(id="quick", retry_budget="5m", circuit_breaker=None)()
    first, second = p.tasks["extract"].options, p.tasks["quick"].options
    assert (first.retry.jitter, first.retry.budget, first.circuit_breaker) == (1.0, 7200.0, 3)
    assert (second.retry.budget, second.circuit_breaker) == (300.0, None)


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("retry_jitter", 1.5, "retry_jitter: expected True, False or a fraction between 0 and 1, got 1.5"),
        ("retry_jitter", -0.1, "retry_jitter"),
        ("retry_jitter", "yes", "retry_jitter"),
        ("retry_jitter", float("nan"), "retry_jitter"),
        ("retry_budget", "soon", "retry_budget: cannot read 'soon' as a duration"),
        ("retry_budget", 0, "retry_budget: expected a duration greater than zero, got 0"),
        ("retry_budget", "-5m", "retry_budget"),
        ("circuit_breaker", 0, "circuit_breaker: expected a number of consecutive failed runs >= 1, or None, got 0"),
        ("circuit_breaker", True, "circuit_breaker"),
        ("circuit_breaker", "3", "circuit_breaker"),
        ("circuit_breaker", 2.5, "circuit_breaker"),
    ],
)
def test_bad_values_name_the_task_and_the_option(option: str, value: object, fragment: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        resolve_options({option: value}, where="task 'extract'")
    assert caught.value.message.startswith("task 'extract': "), caught.value.message
    assert fragment in caught.value.message


def test_bad_default_arg_is_reported_for_the_pipeline() -> None:
    @task
    def extract(ctx: Context) -> None: ...

    with pytest.raises(DefinitionError, match="retry_jitter"), Pipeline("bad", default_args={"retry_jitter": 2}):
        extract()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "0.5s"),
        (45, "45s"),
        (90, "1m30s"),
        (60, "1m"),
        (7200, "2h"),
        (5400, "1h30m"),
        (90061, "1d1h1m1s"),
    ],
)
def test_compact_duration(seconds: float, text: str) -> None:
    assert compact_duration(seconds) == text


def test_a_permanent_error_or_a_missing_connection_is_never_retried() -> None:
    from headwater import Pipeline, task
    from headwater.errors import PermanentError
    from headwater.testing import run_pipeline

    @task(retries=3, retry_delay=0)
    def bad_sql() -> None:
        raise PermanentError('syntax error at or near "SELEC" (line 2)')

    @task(retries=3, retry_delay=0)
    def no_conn(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.connection("hw_never_configured")

    @task(retries=1, retry_delay=0)
    def flaky() -> None:
        raise ConnectionError("refused")

    with Pipeline("permanent_errors") as pipeline:
        bad_sql()
        no_conn()
        flaky()
    result = run_pipeline(pipeline)
    assert [len(result.tries[t]) for t in ("bad_sql", "no_conn", "flaky")] == [1, 1, 2]
    assert result.summary.task("bad_sql").error is not None
    assert result.summary.task("bad_sql").error.startswith('syntax error at or near "SELEC" (line 2)')
    assert "hw_never_configured" in (result.summary.task("no_conn").error or "")
