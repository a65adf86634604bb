"""Every alert kind, delivered by the email notifier to a real SMTP server: its subject and both bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from headwater.plugin import Alert, AlertKind
from headwater_email import EmailNotifier

if TYPE_CHECKING:
    from conftest import SmtpServer, Tls

RUN = "warehouse_refresh__2026-01-05T06:00:00+00:00"
DATE = "2026-01-05T06:00:00+00:00"

# (alert, expected subject, fragments of the plain-text body, fragments of the HTML body)
CASES: list[tuple[Alert, str, list[str], list[str]]] = [
    (
        Alert(
            kind=AlertKind.FAILURE,
            pipeline_id="warehouse_refresh",
            run_id=RUN,
            task_id="load",
            try_number=3,
            message="task load failed on try 3, no retries left (3 tries): ConnectionError: refused",
            error='ConnectionError: refused\nTraceback (most recent call last):\n  File "load.py", line 3',
            logical_date=DATE,
            log_path="/var/log/headwater/load/3.log",
            log_url="https://headwater.example.com/runs/1/load",
            details={"reason": "no retries left (3 tries)"},
        ),
        "[headwater] FAILED warehouse_refresh.load (try 3/3)",
        [
            "Task          load",
            "Try           3 of 3",
            "Reason        no retries left (3 tries)",
            'File "load.py"',
            "Log           https://headwater.example.com/runs/1/load",
            "Log file      /var/log/headwater/load/3.log",
        ],
        ['<a href="https://headwater.example.com/runs/1/load">', "File &quot;load.py&quot;", "3 of 3"],
    ),
    (
        Alert(
            kind=AlertKind.RETRY,
            pipeline_id="warehouse_refresh",
            run_id=RUN,
            task_id="extract",
            try_number=2,
            message="task extract failed on try 2/4, retrying in 1m30s: TimeoutError: read timed out",
            error="TimeoutError: read timed out",
            logical_date=DATE,
            details={"retry_delay": "90", "max_tries": "4"},
        ),
        "[headwater] RETRYING warehouse_refresh.extract (try 2/4)",
        ["Try           2 of 4", "Retrying in   1m30s"],
        ["2 of 4", "1m30s"],
    ),
    (
        Alert(
            kind=AlertKind.SUCCESS,
            pipeline_id="warehouse_refresh",
            run_id=RUN,
            message="run succeeded in 2m03s",
            logical_date=DATE,
        ),
        "[headwater] SUCCEEDED warehouse_refresh (2026-01-05 06:00)",
        ["run succeeded in 2m03s", f"Run           {RUN}", f"Logical date  {DATE}"],
        ["SUCCEEDED &middot; warehouse_refresh", "#1a7f37"],
    ),
    (
        Alert(
            kind=AlertKind.FAILURE,
            pipeline_id="warehouse_refresh",
            run_id="warehouse_refresh__2026-01-05T00:00:00+00:00",
            message="run failed in 4m: 2 tasks failed (extract, load)",
            logical_date="2026-01-05T00:00:00+00:00",
        ),
        "[headwater] FAILED warehouse_refresh (2026-01-05)",
        ["run failed in 4m: 2 tasks failed (extract, load)"],
        ["#cf222e", "2 tasks failed (extract, load)"],
    ),
    (
        Alert(
            kind=AlertKind.DEADLINE_MISSED,
            pipeline_id="warehouse_refresh",
            run_id=RUN,
            message="run missed its deadline of 2026-01-05 10:00 UTC by 12 min",
            minutes_late=12.4,
            critical_path=("extract", "transform", "load"),
            details={"deadline_at": "2026-01-05T10:00:00+00:00"},
        ),
        "[headwater] DEADLINE MISSED warehouse_refresh (12 min late)",
        ["Late by        12 min", "Critical path  extract -> transform -> load", "Deadline       2026-01-05 10:00 UTC"],
        ["extract -&gt; transform -&gt; load"],
    ),
    (
        Alert(
            kind=AlertKind.DEADLINE_PREDICTED,
            pipeline_id="warehouse_refresh",
            run_id=RUN,
            message="run is predicted to miss its deadline of 2026-01-05 10:00 UTC by 7.5 min",
            minutes_late=7.5,
            critical_path=("transform", "load"),
            details={"deadline_at": "2026-01-05T10:00:00+00:00", "expected_end_at": "2026-01-05T10:07:30+00:00"},
        ),
        "[headwater] DEADLINE AT RISK warehouse_refresh (predicted 7.5 min late)",
        ["Late by        7.5 min", "Expected end   2026-01-05 10:07 UTC"],
        ["DEADLINE AT RISK", "#bf8700"],
    ),
    (
        Alert(
            kind=AlertKind.CIRCUIT_OPEN,
            pipeline_id="warehouse_refresh",
            run_id=RUN,
            task_id="extract_partner_feed",
            message=(
                "circuit breaker of task extract_partner_feed opened after 5 consecutive failed runs (threshold 5);"
                " close it with `headwater reset warehouse_refresh extract_partner_feed`"
            ),
            error="ConnectionError: refused",
            details={"consecutive_failures": "5", "threshold": "5", "opened_at": "2026-01-05T06:12:00+00:00"},
        ),
        "[headwater] CIRCUIT OPEN warehouse_refresh.extract_partner_feed (after 5 failed runs)",
        ["Failed runs in a row  5", "Breaker opened        2026-01-05 06:12 UTC", "ConnectionError: refused"],
        ["headwater reset warehouse_refresh extract_partner_feed", "ConnectionError: refused"],
    ),
    (
        Alert(
            kind=AlertKind.FRESHNESS,
            pipeline_id="warehouse_refresh",
            task_id="orders",
            message="asset orders partition 2026-03-01 is 3h10m old, over its max lag of 2h (never materialized)",
            details={"asset": "orders", "lag": "11400", "max_lag": "7200", "partition": "2026-03-01"},
        ),
        "[headwater] STALE warehouse_refresh.orders (partition 2026-03-01)",
        ["Asset      orders", "Age        3h10m", "Max lag    2h", "Partition  2026-03-01"],
        ["STALE &middot; warehouse_refresh", "3h10m"],
    ),
    (
        Alert(
            kind=AlertKind.INFO,
            pipeline_id="warehouse_refresh",
            run_id=RUN,
            task_id="announce",
            message="orders <loaded> & checked",
        ),
        "[headwater] INFO warehouse_refresh.announce: orders <loaded> & checked",
        ["orders <loaded> & checked"],
        ["orders &lt;loaded&gt; &amp; checked"],
    ),
]


@pytest.fixture
def notifier(smtp: SmtpServer, tls: Tls) -> EmailNotifier:
    return EmailNotifier(
        to=["Data Team <data@example.com>", "oncall@example.com"],
        cc="lead@example.com",
        bcc=["audit@example.com"],
        host=smtp.host,
        port=smtp.port,
        starttls=True,
        username="alerts",
        password="Sw0rdfish-9f3kq!",
        sender="Headwater <headwater@example.com>",
        ca_file=tls.ca_file,
    )


def test_every_alert_kind_has_a_case() -> None:
    assert {alert.kind for alert, *_ in CASES} == set(AlertKind)


@pytest.mark.parametrize(
    ("alert", "subject", "text", "markup"), CASES, ids=[f"{a.kind.value}-{i}" for i, (a, *_) in enumerate(CASES)]
)
def test_alert_email_subject_and_both_bodies(
    notifier: EmailNotifier, smtp: SmtpServer, alert: Alert, subject: str, text: list[str], markup: list[str]
) -> None:
    notifier.notify(alert)

    [got] = smtp.received
    assert got.subject == subject
    assert got.message.get_content_type() == "multipart/alternative"
    plain, html = got.part("plain"), got.part("html")
    assert alert.message in plain
    assert f"Pipeline{' ' * 2}" in plain and "warehouse_refresh" in plain
    for fragment in text:
        assert fragment in plain, f"{fragment!r} not in the text body:\n{plain}"
    for fragment in markup:
        assert fragment in html, f"{fragment!r} not in the HTML body:\n{html}"
    assert html.startswith("<!DOCTYPE html>")
    assert got.message["X-Headwater-Alert"] == alert.kind.value
    assert got.message["From"] == "Headwater <headwater@example.com>"
    assert got.message["To"] == "Data Team <data@example.com>, oncall@example.com"
    assert got.message["Cc"] == "lead@example.com"
    assert got.message["Bcc"] is None  # bcc recipients get it without being named
    assert got.mail_from == "headwater@example.com"
    assert got.rcpt_tos == ["data@example.com", "oncall@example.com", "lead@example.com", "audit@example.com"]
    assert got.tls and got.login == "alerts"


def test_secrets_in_an_alert_are_masked_in_subject_and_bodies(notifier: EmailNotifier, smtp: SmtpServer) -> None:
    # the notifier registered its password as a secret; an error quoting a URI with a password is masked too
    error = "OperationalError: postgresql://etl:hunter2-hunter2@db:5432/wh refused; password Sw0rdfish-9f3kq!"
    notifier.notify(
        Alert(
            kind=AlertKind.FAILURE, pipeline_id="p", run_id="r", task_id="t", try_number=1, message=error, error=error
        )
    )
    [got] = smtp.received
    raw = got.message.as_string()
    assert "Sw0rdfish-9f3kq!" not in raw and "hunter2-hunter2" not in raw
    assert "postgresql://etl:***@db:5432/wh" in got.part("plain")


def test_a_long_error_is_cut_to_an_excerpt(notifier: EmailNotifier, smtp: SmtpServer) -> None:
    error = "\n".join(f"frame {i}" for i in range(500))
    notifier.notify(
        Alert(
            kind=AlertKind.FAILURE, pipeline_id="p", run_id="r", task_id="t", try_number=1, message="boom", error=error
        )
    )
    plain = smtp.received[0].part("plain")
    assert "frame 59" in plain and "frame 60\n" not in plain
    assert "... (440 more lines in the log)" in plain


def test_alerts_as_the_engine_builds_them_through_the_alerter(smtp: SmtpServer, mail_conn: str) -> None:
    """The engine's own alert builders and Alerter (as configured by notifiers/notifier_options) end to end."""
    from datetime import UTC, datetime

    from headwater.engine.alerts import Alerter, deadline_alert, failure_alert, retry_alert, run_alert

    alerter = Alerter(["email"], options={"email": {"conn": mail_conn, "to": ["oncall@example.com"]}})
    common = {"pipeline_id": "warehouse_refresh", "run_id": RUN, "logical_date": DATE}
    alerter.send(retry_alert(**common, task_id="load", try_number=2, max_tries=3, delay=60, error="TimeoutError: x"))
    alerter.send(
        failure_alert(
            **common, task_id="load", try_number=3, error="TimeoutError: x", reason="no retries left (3 tries)"
        )
    )
    alerter.send(run_alert(**common, succeeded=False, failed_tasks=["load"], duration=125))
    alerter.send(
        deadline_alert(
            **common,
            predicted=False,
            deadline_at=datetime(2026, 1, 5, 10, tzinfo=UTC),
            minutes_late=12,
            critical_path=["extract", "load"],
        )
    )

    assert [m.subject for m in smtp.received] == [
        "[headwater] RETRYING warehouse_refresh.load (try 2/3)",
        "[headwater] FAILED warehouse_refresh.load (try 3/3)",
        "[headwater] FAILED warehouse_refresh (2026-01-05 06:00)",
        "[headwater] DEADLINE MISSED warehouse_refresh (12 min late)",
    ]
    assert "Retrying in   1m" in smtp.received[0].part("plain")
    assert "run failed in 2m05s: 1 task failed (load)" in smtp.received[2].part("plain")
