"""What each kind of alert looks like in Slack: the Block Kit blocks the stand-in received."""

from __future__ import annotations

from typing import Any

import pytest
from slack_stub import CHANNELS, TOKEN, SlackStub, message_text

from headwater.plugin import Alert, AlertKind
from headwater.secrets import add_secret
from headwater_slack import SlackNotifier

LOG_URL = "http://headwater.example/runs/etl__2026-03-01/extract/3"


def post(slack: SlackStub, alert: Alert, **options: Any) -> dict[str, Any]:
    notifier = SlackNotifier(token=TOKEN, channel=CHANNELS[0], base_url=slack.base_url, auto_flush=False, **options)
    notifier.notify(alert)
    notifier.close()
    assert len(slack.messages) == 1, slack.messages
    return slack.messages[0]


def blocks_of(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in message["blocks"] if b["type"] == kind]


def fields(message: dict[str, Any]) -> dict[str, str]:
    """The section fields as {label: value}."""
    out = {}
    for block in blocks_of(message, "section"):
        for f in block.get("fields", []):
            label, _, value = f["text"].partition("\n")
            out[label.strip("*")] = value
    return out


def header(message: dict[str, Any]) -> str:
    (block,) = blocks_of(message, "header")
    assert block["text"]["type"] == "plain_text"
    return str(block["text"]["text"])


def failure(**overrides: Any) -> Alert:
    values: dict[str, Any] = {
        "kind": AlertKind.FAILURE,
        "pipeline_id": "etl",
        "run_id": "etl__2026-03-01",
        "task_id": "extract_orders",
        "try_number": 3,
        "message": "task extract_orders failed on try 3, no retries left (3 tries): ConnectionError: refused",
        "error": "ConnectionError: refused\n  while connecting to warehouse:5432",
        "logical_date": "2026-03-01T00:00:00+00:00",
        "log_url": LOG_URL,
        "log_path": "/var/log/hw/extract_orders.3.log",
    }
    values.update(overrides)
    return Alert(**values)


def test_a_failure_shows_pipeline_task_try_error_and_log_link(slack: SlackStub) -> None:
    message = post(slack, failure())
    assert header(message) == ":red_circle: Task extract_orders failed in etl"
    assert message["channel"] == "#alerts"
    got = fields(message)
    assert got["Pipeline"] == "`etl`" and got["Task"] == "`extract_orders`" and got["Try"] == "3"
    assert got["Run"] == "`etl__2026-03-01`" and got["Logical date"] == "2026-03-01T00:00:00+00:00"
    texts = [b["text"]["text"] for b in blocks_of(message, "section") if "text" in b]
    assert texts[0].startswith("task extract_orders failed on try 3")
    assert "*Error*\n```ConnectionError: refused\n  while connecting to warehouse:5432```" in texts
    (context,) = blocks_of(message, "context")
    assert context["elements"][0]["text"] == f"<{LOG_URL}|:page_facing_up: Open the log>"
    # the notification text stands alone (phones, screen readers, search)
    assert message["text"].startswith("[failure] etl/extract_orders: task extract_orders failed on try 3")
    assert message["text"].endswith(f"| log: {LOG_URL}")


def test_a_retry_shows_the_try_out_of_the_tries_allowed(slack: SlackStub) -> None:
    alert = failure(
        kind=AlertKind.RETRY,
        try_number=2,
        message="task extract_orders failed on try 2/4, retrying in 1m30s: ConnectionError: refused",
        details={"retry_delay": "90", "max_tries": "4"},
    )
    message = post(slack, alert)
    assert header(message) == ":large_orange_circle: Task extract_orders is retrying in etl"
    assert fields(message)["Try"] == "2 of 4"


def test_a_run_success_names_the_pipeline_and_shows_no_error(slack: SlackStub) -> None:
    alert = Alert(kind=AlertKind.SUCCESS, pipeline_id="etl", run_id="etl__1", message="run succeeded in 2m03s")
    message = post(slack, alert)
    assert header(message) == ":large_green_circle: Run of etl succeeded"
    assert "Error" not in message_text(message) and not blocks_of(message, "context")
    assert message["text"] == "[success] etl: run succeeded in 2m03s"


@pytest.mark.parametrize(
    ("kind", "title", "label"),
    [
        (AlertKind.DEADLINE_MISSED, ":alarm_clock: etl missed its deadline", "Late"),
        (
            AlertKind.DEADLINE_PREDICTED,
            ":hourglass_flowing_sand: etl is predicted to miss its deadline",
            "Predicted late",
        ),
    ],
)
def test_deadline_alerts_show_minutes_late_and_the_critical_path(
    slack: SlackStub, kind: AlertKind, title: str, label: str
) -> None:
    alert = Alert(
        kind=kind,
        pipeline_id="etl",
        run_id="etl__1",
        message="run missed its deadline of 2026-01-05 10:00 UTC by 42 min",
        minutes_late=42.0,
        critical_path=("extract", "transform", "load"),
    )
    message = post(slack, alert)
    assert header(message) == title
    assert fields(message)[label] == "42 min"
    assert "*Critical path*\n`extract` → `transform` → `load`" in message_text(message)
    assert "42 min late | critical path: extract -> transform -> load" in message["text"]


def test_a_circuit_open_alert_names_the_task_and_how_many_runs_failed(slack: SlackStub) -> None:
    alert = Alert(
        kind=AlertKind.CIRCUIT_OPEN,
        pipeline_id="etl",
        run_id="etl__9",
        task_id="extract",
        message="circuit breaker of task extract opened after 5 consecutive failed runs (threshold 5); close it with "
        "`headwater reset etl extract`",
        error="ConnectionError: refused",
        details={"consecutive_failures": "5", "threshold": "5"},
    )
    message = post(slack, alert)
    assert header(message) == ":no_entry: Circuit breaker of extract opened in etl"
    assert fields(message)["Failed runs in a row"] == "5"


def test_a_freshness_alert_names_the_asset_and_partition(slack: SlackStub) -> None:
    alert = Alert(
        kind=AlertKind.FRESHNESS,
        pipeline_id="assets",
        task_id="orders",
        message="asset orders partition 2026-03-01 is 3h10m old, over its max lag of 2h",
        details={"asset": "orders", "partition": "2026-03-01", "lag": "11400", "max_lag": "7200"},
        minutes_late=70.0,
    )
    message = post(slack, alert)
    assert header(message) == ":warning: Asset orders of assets is stale"
    got = fields(message)
    assert got["Asset"] == "`orders`" and got["Partition"] == "2026-03-01" and got["Late"] == "70 min"


def test_an_info_alert_from_a_notify_task(slack: SlackStub) -> None:
    alert = Alert(kind=AlertKind.INFO, pipeline_id="etl", run_id="r", task_id="announce", message="loaded 42 rows")
    message = post(slack, alert)
    assert header(message) == ":information_source: etl: announce"
    assert "loaded 42 rows" in message_text(message)


def test_the_error_excerpt_is_masked_and_cut(slack: SlackStub) -> None:
    add_secret("hunter2-db-password")
    error = "RuntimeError: connect to postgres://etl:hunter2-db-password@db/warehouse failed\n" + "\n".join(
        f"  frame {i}" for i in range(100)
    )
    message = post(slack, failure(error=error), error_lines=5)
    text = message_text(message)
    assert "hunter2-db-password" not in text and "postgres://etl:***@db/warehouse" in text
    assert "  frame 3\n… (cut; the full error is in the task's log)```" in text
    assert "frame 4" not in text


def test_slack_markup_in_alert_text_is_escaped_not_interpreted(slack: SlackStub) -> None:
    message = post(slack, failure(message="rows <b> & <!channel> failed", task_id="load_*daily*"))
    text = message_text(message)
    assert "rows &lt;b&gt; &amp; &lt;!channel&gt; failed" in text
    assert "`load_*daily*`" in text and "<!channel>" not in text.split("\n", 1)[1]


def test_mention_goes_on_failures_not_on_successes(slack: SlackStub) -> None:
    notifier = SlackNotifier(token=TOKEN, channel="#alerts", base_url=slack.base_url, mention="<!here>")
    notifier.notify(failure())
    notifier.notify(Alert(kind=AlertKind.SUCCESS, pipeline_id="etl", run_id="r2", message="run succeeded in 1s"))
    notifier.close()
    first, second = (m["blocks"][1]["text"]["text"] for m in slack.messages)
    assert first.startswith("<!here> task extract_orders failed")
    assert second == "run succeeded in 1s"


def test_long_values_stay_within_slack_limits(slack: SlackStub) -> None:
    message = post(slack, failure(task_id="t" * 190, message="m" * 5000, error="e" * 10000))
    assert len(header(message)) <= 150
    for block in message["blocks"]:
        if "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for f in block.get("fields", []):
            assert len(f["text"]) <= 2000
    assert len(message["text"]) <= 3000
