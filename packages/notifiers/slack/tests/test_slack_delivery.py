"""Delivery through the real slack-sdk: Web API and webhooks, 429s, refused tokens, and where credentials come from."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from slack_stub import CHANNELS, TOKEN, WEBHOOK_PATH, Canned, SlackStub

from headwater import ConfigError
from headwater.plugin import Alert, AlertKind, PermanentError
from headwater_slack import SlackNotifier, SlackRefusedError, SlackUnavailableError

BAD_TOKEN = "xoxb-hw-refused-5d1c0e77a9"


def alert(task: str = "extract", error: str = "ConnectionError: refused") -> Alert:
    return Alert(
        kind=AlertKind.FAILURE,
        pipeline_id="etl",
        run_id="etl__1",
        task_id=task,
        try_number=1,
        message=f"task {task} failed on try 1: {error}",
        error=error,
    )


def notifier_for(slack: SlackStub, **options: Any) -> SlackNotifier:
    options.setdefault("token", TOKEN)
    options.setdefault("channel", CHANNELS[0])
    return SlackNotifier(base_url=slack.base_url, auto_flush=False, **options)


def test_a_429_is_retried_after_retry_after_then_delivered(slack: SlackStub) -> None:
    slack.queue.append(Canned(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}))
    notifier = notifier_for(slack)
    notifier.notify(alert())
    assert slack.requests == 2 and len(slack.messages) == 1


def test_429s_past_the_retries_are_a_retryable_error(slack: SlackStub) -> None:
    for _ in range(3):
        slack.queue.append(Canned(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}))
    notifier = notifier_for(slack, rate_limit_retries=1)
    with pytest.raises(SlackUnavailableError, match=r"Slack rate-limited #alerts via the token option \(HTTP 429\)"):
        notifier.notify(alert())
    assert slack.requests == 2 and not slack.messages
    assert isinstance(SlackUnavailableError("x"), ConnectionError)  # retried by retry_on=(ConnectionError,) too


def test_a_retry_after_longer_than_max_retry_after_is_not_waited_for(slack: SlackStub) -> None:
    slack.queue.append(Canned(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3600"}))
    notifier = notifier_for(slack, max_retry_after="30s")
    with pytest.raises(SlackUnavailableError, match="HTTP 429"):
        notifier.notify(alert())
    assert slack.requests == 1


def test_a_5xx_is_retried_once_then_reported_as_unavailable(slack: SlackStub) -> None:
    slack.queue.append(Canned(503, {"ok": False, "error": "service_unavailable"}))
    notifier_for(slack).notify(alert())
    assert slack.requests == 2 and len(slack.messages) == 1
    slack.queue.extend([Canned(500, "<html>oops</html>"), Canned(500, "<html>oops</html>")])
    with pytest.raises(SlackUnavailableError, match=r"Slack is unavailable \(.*HTTP 500\) for #alerts"):
        notifier_for(slack).notify(alert(task="other"))


def test_a_refused_token_is_one_clear_error_without_the_token(
    slack: SlackStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = notifier_for(slack, token=BAD_TOKEN)
    with pytest.raises(SlackRefusedError) as info:
        notifier.notify(alert())
    assert str(info.value) == (
        "Slack refused the token of the token option (invalid_auth): check the bot token and its scopes"
    )
    assert isinstance(info.value, PermanentError) and info.value.code == "invalid_auth"
    # once refused, later alerts fail at once: Slack is not asked again with a token it refused
    with pytest.raises(SlackRefusedError, match="invalid_auth"):
        notifier.notify(alert(task="load"))
    assert slack.requests == 1
    assert f"Bearer {BAD_TOKEN}" in slack.headers_seen()  # it was sent, as a header...
    assert BAD_TOKEN not in caplog.text and BAD_TOKEN not in repr(notifier)  # ...and shown nowhere


def test_an_unknown_channel_is_refused_naming_it(slack: SlackStub) -> None:
    with pytest.raises(SlackRefusedError, match=r"Slack refused the message to #nowhere via .* \(channel_not_found\)"):
        notifier_for(slack, channel="#nowhere").notify(alert())


def test_an_unreachable_slack_is_a_retryable_error_naming_the_host() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    notifier = SlackNotifier(token=TOKEN, channel="#alerts", base_url=f"http://127.0.0.1:{port}/api/", timeout=2)
    with pytest.raises(SlackUnavailableError, match=rf"cannot reach Slack at 127.0.0.1:{port} \(#alerts via"):
        notifier.notify(alert())


def test_an_incoming_webhook_gets_the_same_blocks(slack: SlackStub) -> None:
    notifier = SlackNotifier(webhook_url=slack.webhook_url, auto_flush=False)
    notifier.notify(alert())
    (message,) = slack.messages
    assert message["text"].startswith("[failure] etl/extract") and message["blocks"][0]["type"] == "header"
    assert "channel" not in message


def test_a_revoked_webhook_is_refused_without_printing_its_url(slack: SlackStub) -> None:
    slack.queue.append(Canned(404, "no_service"))
    notifier = SlackNotifier(webhook_url=slack.webhook_url)
    with pytest.raises(SlackRefusedError) as info:
        notifier.notify(alert())
    message = str(info.value)
    assert message == "Slack refused the webhook of the webhook_url option (no_service, HTTP 404): " + (
        "the webhook was revoked or is wrong"
    )
    assert "hwwebhooksecret42" not in message + repr(notifier)


def test_a_webhook_429_is_retried(slack: SlackStub) -> None:
    slack.queue.append(Canned(429, "rate_limited", {"Retry-After": "0"}))
    SlackNotifier(webhook_url=slack.webhook_url).notify(alert())
    assert slack.requests == 2 and len(slack.messages) == 1


# -- where the credentials come from -------------------------------------------------------------


def test_the_slack_connection_gives_token_host_and_channel(slack: SlackStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_CONN_SLACK", f"slack://:{TOKEN}@{slack.netloc}/api/?tls=false&channel=%23data-team")
    notifier = SlackNotifier()
    notifier.notify(alert())
    assert slack.messages[0]["channel"] == "#data-team"
    assert repr(notifier) == "<SlackNotifier to #data-team via connection 'slack'>"


def test_channel_option_overrides_the_connections_and_conn_picks_another(
    slack: SlackStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWATER_CONN_OPS_SLACK", f"slack://:{TOKEN}@{slack.netloc}/api/?tls=false&channel=%23x")
    SlackNotifier(conn="ops_slack", channel="#alerts").notify(alert())
    assert slack.messages[0]["channel"] == "#alerts"


def test_a_webhook_connection(slack: SlackStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_CONN_SLACK", f"slack+webhook://{slack.netloc}{WEBHOOK_PATH}?tls=false")
    notifier = SlackNotifier()
    notifier.notify(alert())
    assert len(slack.messages) == 1
    assert repr(notifier) == "<SlackNotifier to the webhook of connection 'slack'>"


def test_tokens_and_webhooks_from_the_environment(slack: SlackStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    SlackNotifier(channel="#alerts", base_url=slack.base_url).notify(alert())
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.webhook_url)
    SlackNotifier().notify(alert(task="load"))
    assert len(slack.messages) == 2


@pytest.mark.parametrize(
    ("options", "env", "error"),
    [
        ({}, {}, "slack: no Slack credentials: set HEADWATER_CONN_SLACK=slack://:xoxb-TOKEN@/?channel=%23alerts"),
        ({"token": "xoxb-abcdef"}, {}, "the token option posts through the Web API and needs a channel"),
        ({"conn": "nowhere"}, {}, "connection 'nowhere' is not defined: set HEADWATER_CONN_NOWHERE"),
        ({}, {"HEADWATER_CONN_SLACK": "postgres://u:pw123456@db/x"}, "connection 'slack' has the scheme 'postgres'"),
        ({}, {"HEADWATER_CONN_SLACK": "slack://127.0.0.1/?channel=%23a"}, "connection 'slack' has no token"),
        ({"webhook_url": "http://x/y", "window": "soon"}, {}, "notifier_options.slack.window: expected a duration"),
        ({"webhook_url": "http://x/y", "window": 0}, {}, "window: expected a duration greater than zero"),
        ({"webhook_url": "http://x/y", "max_per_window": -1}, {}, "max_per_window: expected a whole number >= 0"),
        ({"webhook_url": "http://x/y", "chanel": "#a"}, {}, "notifier_options.slack: unknown option(s) chanel"),
    ],
)
def test_bad_configuration_is_one_clear_config_error(
    options: dict[str, Any], env: dict[str, str], error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        SlackNotifier(**options)
    assert error in str(info.value)
    assert "pw123456" not in str(info.value)


def test_the_sdks_own_debug_logs_are_masked(slack: SlackStub, caplog: pytest.LogCaptureFixture) -> None:
    from headwater_slack.client import SDK_LOGGER, sdk_logger

    sdk = sdk_logger()
    level = sdk.level
    sdk.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        slack.queue.append(Canned(429, "rate_limited", {"Retry-After": "0"}))
        SlackNotifier(webhook_url=slack.webhook_url).notify(alert())
        notifier_for(slack).notify(alert(task="load"))
    finally:
        sdk.setLevel(level)
    sdk_lines = [r.getMessage() for r in caplog.records if r.name == SDK_LOGGER]
    assert any("***" in line for line in sdk_lines), sdk_lines  # the webhook URL was logged, masked
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")  # not the stand-in's access log
    assert "hwwebhooksecret42" not in ours and TOKEN not in ours


def test_the_sdk_stays_quiet_by_default_about_failures_we_report(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SlackUnavailableError):
        SlackNotifier(token=TOKEN, channel="#alerts", base_url=f"http://127.0.0.1:{port}/api/").notify(alert())
    assert not [r for r in caplog.records if r.name.startswith(("slack_sdk", "headwater_slack"))]
