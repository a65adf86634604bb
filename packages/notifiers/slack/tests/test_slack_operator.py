"""SlackOperator (``slack.message``) in real pipeline runs against the stand-in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_stub import TOKEN, WEBHOOK_PATH, Canned, SlackStub, message_text

from headwater import DefinitionError, Pipeline, TriggerRule, task
from headwater.testing import run_pipeline
from headwater_slack import SlackOperator

BAD_TOKEN = "xoxb-hw-operator-refused-31c4"


@pytest.fixture
def slack_conn(slack: SlackStub, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HEADWATER_CONN_SLACK", f"slack://:{TOKEN}@{slack.netloc}/api/?tls=false&channel=%23alerts")
    return "slack"


def test_posts_its_templated_text_and_returns_channel_and_ts(slack: SlackStub, slack_conn: str) -> None:
    with Pipeline("nightly", params={"rows": 42}) as pipeline:
        SlackOperator(
            "announce",
            conn=slack_conn,
            channel="#data-team",
            text=":white_check_mark: {pipeline_id} loaded {params[rows]} rows for {ds} (try {try_number})",
        )
    result = run_pipeline(pipeline, logical_date=datetime(2026, 3, 1, tzinfo=UTC))
    assert result.ok, result.summary.task("announce").error
    (message,) = slack.messages
    assert message["channel"] == "#data-team"
    assert message["text"] == ":white_check_mark: nightly loaded 42 rows for 2026-03-01 (try 1)"
    assert "nightly · " in message_text(message)  # the context line names pipeline and run
    assert result.results["announce"] == {"channel": "C0HWALERTS", "ts": "1767225600.000001"}


def test_with_one_failed_it_posts_only_when_an_upstream_task_failed(slack: SlackStub, slack_conn: str) -> None:
    @task
    def load() -> None:
        raise RuntimeError("COPY failed")

    @task
    def fine() -> int:
        return 1

    with Pipeline("warehouse") as pipeline:
        loaded = load()
        ok = fine()
        on_failure = SlackOperator("on_failure", text=":x: {pipeline_id} failed ({run_id})", trigger_rule="one_failed")
        on_success = SlackOperator("on_success", text="{pipeline_id} done")
        [loaded, ok] >> on_failure
        [loaded, ok] >> on_success
    result = run_pipeline(pipeline)
    assert result.task_state("on_failure") == "success"
    assert result.task_state("on_success") == "upstream_failed"
    (message,) = slack.messages
    assert message["text"].startswith(":x: warehouse failed (warehouse")
    assert TriggerRule.ONE_FAILED  # the rule the warehouse example uses


def test_custom_blocks_are_posted_as_given(slack: SlackStub, slack_conn: str) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*custom* layout"}}]
    with Pipeline("blocks") as pipeline:
        SlackOperator("post", text="fallback", blocks=blocks)
    assert run_pipeline(pipeline).ok
    assert slack.messages[0]["blocks"] == blocks and slack.messages[0]["text"] == "fallback"


def test_a_webhook_connection(slack: SlackStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_CONN_HOOK", f"slack+webhook://{slack.netloc}{WEBHOOK_PATH}?tls=false")
    with Pipeline("hooked") as pipeline:
        SlackOperator("post", conn="hook", text="hello from {pipeline_id}")
    assert run_pipeline(pipeline).ok
    assert slack.messages[0]["text"] == "hello from hooked"


def test_a_refused_token_fails_once_with_a_clear_error_and_no_token_anywhere(
    slack: SlackStub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HEADWATER_CONN_SLACK", f"slack://:{BAD_TOKEN}@{slack.netloc}/api/?tls=false&channel=%23alerts")
    with Pipeline("refused") as pipeline:
        SlackOperator("post", text="hi", retries=3, retry_delay=0)
    result = run_pipeline(pipeline, workdir=tmp_path)
    summary = result.summary.task("post")
    assert summary.state == "failed"
    assert summary.error == (
        "Slack refused the token of connection 'slack' (invalid_auth): check the bot token and its scopes"
    )
    assert len(result.tries["post"]) == 1, "a refused token is never retried"
    written = "\n".join(
        p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".log"
    )
    assert "invalid_auth" in written  # the task's log says what happened...
    assert BAD_TOKEN not in written + repr(result)  # ...without the token


def test_an_unavailable_slack_fails_the_try_as_retryable(slack: SlackStub, slack_conn: str) -> None:
    slack.queue.extend([Canned(503, {"ok": False, "error": "service_unavailable"})] * 2)  # the SDK retries once
    with Pipeline("flaky_slack") as pipeline:
        SlackOperator("post", text="hi", retries=1, retry_delay=0)
    result = run_pipeline(pipeline)
    assert result.ok
    first, _second = result.tries["post"]
    assert first.error is not None and "Slack is unavailable (service_unavailable, HTTP 503)" in first.error
    assert len(slack.messages) == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": ""}, "text must be a non-empty string"),
        ({"text": "{pipeline} done"}, "unknown placeholder {pipeline}"),
        ({"text": "{oops"}, "text is not a valid template"),
        ({"text": "x", "conn": ""}, "conn must be a connection id"),
        ({"text": "x", "blocks": {"type": "section"}}, "blocks must be a list of Block Kit dicts"),
        ({"text": "x", "request_timeout": 0}, "request_timeout must be seconds > 0"),
    ],
)
def test_bad_arguments_are_definition_errors_naming_the_task(kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(DefinitionError) as info:
        SlackOperator("notify_team", **kwargs)
    assert "task 'notify_team'" in str(info.value) and error in str(info.value)


def test_describe_is_one_line() -> None:
    op = SlackOperator("post", text="x", conn="ops", channel="#data")
    assert op.describe() == "post to Slack #data via connection 'ops'"
    assert SlackOperator("post", text="x").describe() == "post to Slack via connection 'slack'"


def test_ctx_client_gives_the_sdk_client_of_a_slack_connection(slack: SlackStub, slack_conn: str) -> None:
    @task
    def raw(ctx: Any) -> str:
        client = ctx.client(slack_conn)
        return str(client.chat_postMessage(channel="#alerts", text="straight from the SDK")["ts"])

    with Pipeline("raw_client") as pipeline:
        raw()
    result = run_pipeline(pipeline)
    assert result.ok, result.summary.task("raw").error
    assert slack.messages[0]["text"] == "straight from the SDK"
