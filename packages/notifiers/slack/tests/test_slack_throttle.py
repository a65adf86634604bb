"""Rate limiting, deduplication and burst summaries, driven by an injected clock."""

from __future__ import annotations

import time
from typing import Any

from slack_stub import CHANNELS, TOKEN, FakeClock, SlackStub

from headwater.plugin import Alert, AlertKind
from headwater_slack import SlackNotifier


def notifier_for(slack: SlackStub, clock: FakeClock | None, **options: Any) -> SlackNotifier:
    options.setdefault("auto_flush", False)
    return SlackNotifier(token=TOKEN, channel=CHANNELS[0], base_url=slack.base_url, clock=clock, **options)


def failed(
    pipeline: str = "etl", task: str = "extract", error: str = "ConnectionError: refused", run: str = "r1"
) -> Alert:
    return Alert(
        kind=AlertKind.FAILURE,
        pipeline_id=pipeline,
        run_id=run,
        task_id=task,
        try_number=1,
        message=f"task {task} failed on try 1: {error}",
        error=error,
    )


def headers(slack: SlackStub) -> list[str]:
    return [m["blocks"][0]["text"]["text"] for m in slack.messages]


def test_the_same_alert_within_the_dedup_window_is_posted_once(slack: SlackStub, clock: FakeClock) -> None:
    notifier = notifier_for(slack, clock, dedup_window="10m")
    notifier.notify(failed(run="r1"))
    clock.advance(120)
    notifier.notify(failed(run="r2"))  # another run, same kind, pipeline, task and error
    clock.advance(120)
    notifier.notify(failed(run="r3", error="ConnectionError: timed out"))  # a different error is news
    notifier.notify(failed(run="r3", task="load"))  # so is another task
    clock.advance(601)
    notifier.notify(failed(run="r4"))  # the window has passed: posted again
    notifier.close()
    assert [m["text"].split(":", 1)[0] for m in slack.messages] == [
        "[failure] etl/extract",
        "[failure] etl/extract",
        "[failure] etl/load",
        "[failure] etl/extract",
    ]
    assert "timed out" in slack.messages[1]["text"]
    assert slack.requests == 4  # repeats never reach Slack, and no summary: nothing was held back


def test_500_failures_in_a_minute_become_one_summary(slack: SlackStub, clock: FakeClock) -> None:
    notifier = notifier_for(slack, clock, window="60s", max_per_window=5)
    errors = ["ConnectionError: refused", "TimeoutError: read timed out", "KeyError: 'id'"]
    for i in range(500):
        notifier.notify(
            failed(pipeline=f"pipeline_{i % 12:02d}", task=f"task_{i}", error=errors[0 if i % 10 < 8 else i % 10 - 7])
        )
        clock.advance(0.1)  # 50 seconds in all
    assert len(slack.messages) == 5  # the first five, one by one; the rest are held back
    clock.advance(15)  # the window (opened by the first alert) is over: its summary is due
    notifier.flush()  # what the background timer does then
    notifier.close()
    texts = [m["text"] for m in slack.messages]
    assert len(texts) == 6, texts
    summary = texts[-1]
    assert summary.startswith("500 failures in 12 pipelines in the last minute: top errors: ConnectionError: refused")
    assert "ConnectionError: refused (400x)" in summary and "TimeoutError: read timed out (50x)" in summary
    assert "KeyError: 'id' (50x)" in summary


def test_the_summary_blocks_show_counts_top_errors_and_pipelines(slack: SlackStub, clock: FakeClock) -> None:
    notifier = notifier_for(slack, clock, window="60s", max_per_window=2)
    for i in range(30):
        kind = AlertKind.RETRY if i % 3 == 0 else AlertKind.FAILURE
        alert = failed(pipeline=f"p{i % 4}", task=f"t{i}", error=f"E{i % 2}: broke")
        notifier.notify(Alert(**{**_fields(alert), "kind": kind}))
    notifier.close()  # closing posts what is held
    summary = slack.messages[-1]
    assert len(slack.messages) == 3
    assert summary["text"].startswith("30 alerts (20 failures, 10 retries) in 4 pipelines in the last minute")
    head, intro, top, pipelines = (b["text"]["text"] for b in summary["blocks"])
    assert head == ":rotating_light: 30 alerts (20 failures, 10 retries) in 4 pipelines in the last minute"
    assert "2 alerts were posted one by one; the other 28 are summarised here" in intro
    assert top == "*Top errors*\n• 15 x `E0: broke` (2 pipelines)\n• 15 x `E1: broke` (2 pipelines)"
    assert pipelines.startswith("*Pipelines*\n`p0` (8), `p1` (8), `p2` (7), `p3` (7)")


def _fields(alert: Alert) -> dict[str, Any]:
    return {name: getattr(alert, name) for name in alert.__dataclass_fields__}


def test_a_sustained_flood_gives_one_summary_per_window(slack: SlackStub, clock: FakeClock) -> None:
    notifier = notifier_for(slack, clock, window="60s", max_per_window=3)
    for minute in range(5):
        for i in range(100):
            notifier.notify(failed(task=f"t{minute}_{i}"))
            clock.advance(0.5)
        clock.advance(10)  # 60 s a minute
    notifier.close()
    texts = [m["text"] for m in slack.messages]
    singles = [t for t in texts if t.startswith("[failure]")]
    summaries = [t for t in texts if "in the last minute" in t]
    assert len(singles) == 3, "only the first window posts alerts one by one"
    assert len(summaries) == 5, texts
    assert summaries[0].startswith("100 failures in 1 pipeline in the last minute")


def test_after_a_quiet_window_alerts_are_posted_one_by_one_again(slack: SlackStub, clock: FakeClock) -> None:
    notifier = notifier_for(slack, clock, window="60s", max_per_window=2)
    for i in range(10):
        notifier.notify(failed(task=f"a{i}"))
    clock.advance(61)
    notifier.notify(failed(task="b0"))  # ends the flood window (summary) and opens a storm window: held
    clock.advance(180)  # a quiet spell
    notifier.notify(failed(task="c0"))
    notifier.notify(failed(task="c1"))
    notifier.close()
    texts = [m["text"] for m in slack.messages]
    assert [t.split(":", 1)[0] for t in texts] == [
        "[failure] etl/a0",
        "[failure] etl/a1",
        "10 failures in 1 pipeline in the last minute",
        "1 failure in 1 pipeline in the last minute",
        "[failure] etl/c0",
        "[failure] etl/c1",
    ]


def test_close_posts_what_is_held_and_nothing_when_nothing_is(slack: SlackStub, clock: FakeClock) -> None:
    notifier = notifier_for(slack, clock, max_per_window=1)
    notifier.notify(failed(task="a"))
    notifier.close()
    assert len(slack.messages) == 1
    notifier.notify(failed(task="b"))
    notifier.notify(failed(task="c"))
    notifier.close()
    assert [m["text"].split(":", 1)[0] for m in slack.messages] == [
        "[failure] etl/a",
        "[failure] etl/b",
        "2 failures in 1 pipeline in the last minute",  # the summary covers the whole window
    ]


def test_flush_ends_the_window_early(slack: SlackStub, clock: FakeClock) -> None:
    notifier = notifier_for(slack, clock, max_per_window=0)  # summaries only
    for i in range(3):
        notifier.notify(failed(task=f"t{i}"))
    assert slack.messages == []
    notifier.flush()
    assert [m["text"].split(":", 1)[0] for m in slack.messages] == ["3 failures in 1 pipeline in the last minute"]


def test_the_background_timer_posts_a_summary_when_its_window_ends(slack: SlackStub) -> None:
    notifier = SlackNotifier(
        token=TOKEN, channel=CHANNELS[0], base_url=slack.base_url, window="0.3s", max_per_window=1
    )  # the real clock, the real timer
    try:
        for i in range(4):
            notifier.notify(failed(task=f"t{i}"))
        deadline = time.monotonic() + 30
        while len(slack.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        texts = [m["text"] for m in slack.messages]
        assert len(texts) == 2 and texts[1].startswith("4 failures in 1 pipeline in the last 0.3 seconds"), texts
    finally:
        notifier.close()
    assert len(slack.messages) == 2  # nothing left to post on close
