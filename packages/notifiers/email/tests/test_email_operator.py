"""``email.send`` in real pipeline runs (headwater.testing) against a real SMTP server with STARTTLS and login."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from headwater import DefinitionError, NotifyOperator, Pipeline, task
from headwater.testing import TestRun, run_pipeline
from headwater_email import EmailOperator

if TYPE_CHECKING:
    from conftest import SmtpServer, Tls

PASSWORD = "Sw0rdfish-9f3kq!"
DAY = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _all_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


def everything(run: TestRun, workdir: Path, caplog: pytest.LogCaptureFixture) -> str:
    """Every log file, error, result and log record of the run: where a password must never appear."""
    files = "\n".join(
        p.read_text(errors="replace") for p in sorted(workdir.rglob("*")) if p.is_file() and p.suffix != ".db"
    )
    summary = "\n".join(f"{t.task_id} {t.state} {t.error}" for t in run.summary.tasks)
    tries = "\n".join(f"{a.task_id} {a.try_number} {a.error}" for ts in run.tries.values() for a in ts)
    return "\n".join([files, summary, tries, repr(dict(run.results)), caplog.text])


def test_email_send_with_templates_html_and_an_attachment(
    smtp: SmtpServer, mail_conn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "run"  # the project directory: a relative attachment path starts here
    (workdir / "reports").mkdir(parents=True)
    (workdir / "reports" / "report-2026-03-01.csv").write_text("id,amount\n1,9.50\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with Pipeline("daily_report", params={"region": "EU"}) as pipeline:

        @task
        def count() -> int:
            return 42

        rows = count()
        send = EmailOperator(
            "send",
            conn=mail_conn,
            to=["Data Team <data@example.com>"],
            cc="lead@example.com",
            bcc=["audit@example.com"],
            subject="Orders report {ds} ({pipeline_id})",
            body="{upstream[count]} orders on {ds}, run {run_id}. Region: {params[region]}. CSS stays: {color: red}",
            html="<p>{params[region]} &amp; {upstream[count]} orders</p><style>p {color: red}</style>",
            files=["reports/report-{ds}.csv"],
        )
        rows >> send

    run = run_pipeline(pipeline, logical_date=DAY, params={"region": "EU <west>"}, workdir=workdir)

    assert run.ok, run.summary
    [got] = smtp.received
    assert got.subject == "Orders report 2026-03-01 (daily_report)"
    assert got.tls and got.login == "alerts"
    assert got.rcpt_tos == ["data@example.com", "lead@example.com", "audit@example.com"]
    assert got.message["Bcc"] is None
    plain = got.part("plain")
    assert plain.startswith(f"42 orders on 2026-03-01, run {run.summary.run_id}.")
    assert "Region: EU <west>. CSS stays: {color: red}" in plain
    assert got.part("html").rstrip() == "<p>EU &lt;west&gt; &amp; 42 orders</p><style>p {color: red}</style>"
    [attachment] = list(got.message.iter_attachments())
    assert attachment.get_filename() == "report-2026-03-01.csv"
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_content() == "id,amount\n1,9.50\n"

    result = run.results["send"]
    assert isinstance(result, dict)
    assert result["to"] == ["Data Team <data@example.com>", "lead@example.com", "audit@example.com"]
    assert result["subject"] == "Orders report 2026-03-01 (daily_report)"
    assert result["message_id"] == got.message["Message-ID"] and result["refused"] == {}
    assert PASSWORD not in everything(run, workdir, caplog)


def test_a_refused_login_fails_the_task_at_once_with_one_clear_error(
    smtp: SmtpServer, tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wr0ng-passw0rd-77"
    monkeypatch.setenv("HEADWATER_CONN_MAIL", smtp.uri(password=wrong, ca_file=tls.ca_file))
    with Pipeline("mailer") as pipeline:
        EmailOperator("send", conn="mail", to="a@example.com", subject="s", body="b", retries=3, retry_delay=0)

    workdir = tmp_path / "run"
    run = run_pipeline(pipeline, workdir=workdir)

    summary = run.summary.task("send")
    assert summary.state == "failed" and summary.tries == 1, "a refused login is not retried"
    assert summary.error is not None
    assert summary.error.startswith(f"SMTP server 127.0.0.1:{smtp.port} (connection 'mail') refused the login")
    assert "'alerts'" in summary.error
    text = everything(run, workdir, caplog)
    assert wrong not in text and PASSWORD not in text
    assert "refused the login for user 'alerts'" in text


def test_an_unreachable_server_is_retried(
    closed_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HEADWATER_CONN_MAIL", f"smtp://alerts:{PASSWORD}@127.0.0.1:{closed_port}?from=hw@example.com")
    with Pipeline("mailer") as pipeline:
        EmailOperator("send", conn="mail", to="a@example.com", subject="s", body="b", retries=1, retry_delay=0)

    workdir = tmp_path / "run"
    run = run_pipeline(pipeline, workdir=workdir)

    summary = run.summary.task("send")
    assert summary.state == "failed" and summary.tries == 2, "connection refused is transient: retried"
    assert (
        summary.error
        == f"EmailUnavailableError: SMTP server 127.0.0.1:{closed_port} (connection 'mail'): connection refused"
    )
    assert PASSWORD not in everything(run, workdir, caplog)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (None, "connection 'mail' is not defined: set HEADWATER_CONN_MAIL="),
        ("smtp://alerts:{pw}@[broken", "connection 'mail': cannot read the URI"),
        ("postgres://alerts:{pw}@127.0.0.1/db", "connection 'mail' is a postgres:// connection"),
    ],
)
def test_a_bad_connection_fails_the_task_with_one_clear_error(
    uri: str | None,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if uri is None:
        monkeypatch.delenv("HEADWATER_CONN_MAIL", raising=False)
    else:
        monkeypatch.setenv("HEADWATER_CONN_MAIL", uri.format(pw=PASSWORD))
    with Pipeline("mailer") as pipeline:
        EmailOperator("send", conn="mail", to="a@example.com", subject="s", body="b", retries=2, retry_delay=0)

    workdir = tmp_path / "run"
    run = run_pipeline(pipeline, workdir=workdir)

    summary = run.summary.task("send")
    assert summary.state == "failed" and summary.tries == 1
    assert summary.error is not None and message in summary.error
    assert PASSWORD not in everything(run, workdir, caplog)


def test_a_missing_attachment_or_template_key_fails_without_retry(
    smtp: SmtpServer, mail_conn: str, tmp_path: Path
) -> None:
    with Pipeline("mailer") as pipeline:
        EmailOperator("attach", conn=mail_conn, to="a@example.com", subject="s", body="b", files="nope.csv", retries=2)
        EmailOperator("template", conn=mail_conn, to="a@example.com", subject="{params[nope]}", body="b", retries=2)

    run = run_pipeline(pipeline, workdir=tmp_path)

    attach, template = run.summary.task("attach"), run.summary.task("template")
    assert (attach.state, attach.tries, template.state, template.tries) == ("failed", 1, "failed", 1)
    assert attach.error == f"task 'attach': attachment {str(tmp_path / 'nope.csv')!r} does not exist or is not a file"
    assert template.error == "template placeholder {params[nope]}: no params 'nope' (known: none)"
    assert smtp.received == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"conn": "", "to": "a@b.c", "subject": "s", "body": "b"}, "email.send needs conn="),
        ({"conn": "mail", "to": "a@b.c", "body": "b", "subject": " "}, "needs a subject"),
        ({"conn": "mail", "to": "a@b.c", "subject": "s"}, "needs body="),
        ({"conn": "mail", "to": "bob", "subject": "s", "body": "b"}, "'bob' is not an email address"),
        ({"conn": "mail", "to": [], "subject": "s", "body": "b"}, "no email address given"),
        ({"conn": "mail", "to": "a@b.c", "subject": "s", "body": "b", "files": [""]}, "files must be paths"),
    ],
)
def test_bad_arguments_are_a_definition_error_naming_the_task(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DefinitionError, match=message) as raised:
        EmailOperator("send_report", **kwargs)  # type: ignore[arg-type]
    assert raised.value.tasks == ("send_report",)
    assert str(raised.value).startswith("task 'send_report': ")


def test_the_constructor_does_no_io_and_describes_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADWATER_CONN_NOWHERE", raising=False)  # not resolved until the task runs
    op = EmailOperator("send", conn="nowhere", to=["a@b.c", "d@e.f"], subject="Report {ds}", body="x", files="r.csv")
    assert op.describe() == "email 'Report {ds}' to a@b.c, d@e.f via nowhere +1 file"
    assert EmailOperator.operator_name == "email.send"


def test_notify_operator_sends_through_the_email_notifier(
    smtp: SmtpServer, mail_conn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Pipeline("warehouse_refresh") as pipeline:

        @task
        def load() -> None:
            raise RuntimeError("COPY failed: relation orders does not exist")

        alert = NotifyOperator(
            "alert",
            notifier="email",
            notifier_options={"conn": mail_conn, "to": ["oncall@example.com"]},
            kind="failure",
            message="{pipeline_id} failed (run {run_id})",
            trigger_rule="one_failed",
        )
        load() >> alert

    workdir = tmp_path / "run"
    run = run_pipeline(pipeline, workdir=workdir)

    assert run.task_state("alert") == "success"
    [got] = smtp.received
    assert got.subject == "[headwater] FAILED warehouse_refresh.alert"
    assert got.part("plain").startswith(f"warehouse_refresh failed (run {run.summary.run_id})")
    assert PASSWORD not in everything(run, workdir, caplog)
