"""Delivery against a real SMTP server: STARTTLS + login, implicit TLS, and every way it can go wrong."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from headwater import Connection, get_connection
from headwater.plugin import Alert, AlertKind, ConfigError, Kind, PermanentError, get_manager, load_operator
from headwater_email import (
    EmailDeliveryError,
    EmailLoginError,
    EmailNotifier,
    EmailOperator,
    EmailUnavailableError,
    SmtpMailer,
    SmtpSettings,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import SmtpServer, Tls

    StartSmtp = Callable[..., SmtpServer]

PASSWORD = "Sw0rdfish-9f3kq!"
ALERT = Alert(
    kind=AlertKind.FAILURE, pipeline_id="etl", run_id="etl__1", task_id="load", try_number=1, message="it broke"
)


class Sleeps:
    """Records the waits between delivery attempts instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(autouse=True)
def _all_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


def test_starttls_and_login_from_a_connection(smtp: SmtpServer, mail_conn: str) -> None:
    notifier = EmailNotifier(conn=mail_conn, to="oncall@example.com")
    assert notifier.settings.security == "starttls" and notifier.settings.username == "alerts"

    notifier.notify(ALERT)

    [got] = smtp.received
    assert got.tls, "the login and the message must travel over TLS"
    assert got.login == "alerts"
    assert smtp.authenticator.attempts == ["alerts"]
    assert got.mail_from == "headwater@example.com" and got.rcpt_tos == ["oncall@example.com"]


def test_implicit_tls_with_an_smtps_uri(start_smtp: StartSmtp, tls: Tls, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_smtp("ssl")
    monkeypatch.setenv("HEADWATER_CONN_MAIL_SSL", server.uri(ca_file=tls.ca_file))
    notifier = EmailNotifier(conn="mail_ssl", to=["oncall@example.com"])
    assert notifier.settings.security == "ssl"

    notifier.notify(ALERT)

    [got] = server.received
    assert got.tls and got.login == "alerts"


def test_a_plain_relay_without_tls_or_login_from_options(start_smtp: StartSmtp) -> None:
    server = start_smtp("plain")
    # `from` is a Python keyword: from TOML options it arrives as **{"from": ...}
    notifier = EmailNotifier(to="oncall@example.com", host=server.host, port=server.port, **{"from": "hw@example.com"})

    notifier.notify(ALERT)

    [got] = server.received
    assert not got.tls and got.login is None and got.mail_from == "hw@example.com"


def test_options_override_the_connection(smtp: SmtpServer, mail_conn: str) -> None:
    notifier = EmailNotifier(conn=mail_conn, to="oncall@example.com", sender="other@example.com", timeout=5)
    assert notifier.settings.sender == "other@example.com" and notifier.settings.timeout == 5
    assert notifier.settings.port == smtp.port and notifier.settings.security == "starttls"
    notifier.notify(ALERT)
    assert smtp.received[0].mail_from == "other@example.com"


def test_a_refused_login_is_one_clear_permanent_error_tried_once(
    smtp: SmtpServer, tls: Tls, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HEADWATER_CONN_MAIL", smtp.uri(password="Wr0ng-passw0rd-77", ca_file=tls.ca_file))
    notifier = EmailNotifier(conn="mail", to="oncall@example.com", retries=3, sleep=sleeps)

    with pytest.raises(EmailLoginError) as raised:
        notifier.notify(ALERT)

    error = raised.value
    assert isinstance(error, PermanentError) and not isinstance(error, ConnectionError)
    assert str(error).startswith(f"SMTP server 127.0.0.1:{smtp.port} (connection 'mail') refused the login for user")
    assert "'alerts'" in str(error) and "535" in str(error)
    assert smtp.authenticator.attempts == ["alerts"], "one login attempt: no other mechanism, no retry"
    assert sleeps.calls == [] and smtp.received == []
    for text in (str(error), repr(error), caplog.text, repr(notifier), repr(notifier.settings)):
        assert "Wr0ng-passw0rd-77" not in text and PASSWORD not in text


def test_connection_refused_is_retryable_and_tried_again(
    closed_port: int, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port
    notifier = EmailNotifier(
        to="oncall@example.com",
        host="127.0.0.1",
        port=port,
        username="alerts",
        password=PASSWORD,
        sender="hw@example.com",
        retries=2,
        retry_delay=7,
        sleep=sleeps,
    )
    with pytest.raises(EmailUnavailableError) as raised:
        notifier.notify(ALERT)

    assert isinstance(raised.value, ConnectionError) and not isinstance(raised.value, PermanentError)
    assert str(raised.value) == f"SMTP server 127.0.0.1:{port}: connection refused"
    assert sleeps.calls == [7.0, 7.0]
    assert caplog.text.count("trying again in 7s") == 2
    assert PASSWORD not in caplog.text


def test_a_4xx_reply_is_transient_and_the_next_attempt_delivers(start_smtp: StartSmtp, sleeps: Sleeps) -> None:
    server = start_smtp("plain", data_replies=["451 4.3.0 mail server busy, try later"])
    notifier = EmailNotifier(
        to="a@example.com", host=server.host, port=server.port, sender="hw@example.com", sleep=sleeps
    )

    notifier.notify(ALERT)

    assert len(server.received) == 1 and sleeps.calls == [2.0]


def test_a_5xx_reply_is_permanent(start_smtp: StartSmtp, sleeps: Sleeps) -> None:
    server = start_smtp("plain", data_replies=["554 5.6.0 message rejected as spam"])
    notifier = EmailNotifier(
        to="a@example.com", host=server.host, port=server.port, sender="hw@example.com", sleep=sleeps
    )
    with pytest.raises(EmailDeliveryError, match=r"answered 554 5\.6\.0 message rejected as spam"):
        notifier.notify(ALERT)
    assert sleeps.calls == []


def test_every_recipient_refused_is_permanent_and_some_refused_is_a_warning(
    start_smtp: StartSmtp, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_smtp("plain")
    kwargs = {"host": server.host, "port": server.port, "sender": "hw@example.com"}
    with pytest.raises(EmailDeliveryError, match=r"refused every recipient: nobody@example\.com: 550 5\.1\.1"):
        EmailNotifier(to="nobody@example.com", **kwargs).notify(ALERT)

    EmailNotifier(to=["nobody@example.com", "oncall@example.com"], **kwargs).notify(ALERT)
    assert server.received[0].rcpt_tos == ["oncall@example.com"]
    assert "refused some recipients: nobody@example.com: 550 5.1.1 mailbox unavailable" in caplog.text


def test_an_untrusted_certificate_is_a_clear_permanent_error(smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_CONN_MAIL", smtp.uri())  # no ca_file: the test CA is not trusted
    with pytest.raises(EmailDeliveryError, match=r"TLS certificate is not trusted .*set ca_file"):
        EmailNotifier(conn="mail", to="a@example.com").notify(ALERT)


def test_login_before_starttls_says_to_turn_starttls_on(smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_CONN_MAIL", smtp.uri(starttls="false"))
    with pytest.raises(EmailDeliveryError, match="set starttls=true"):
        EmailNotifier(conn="mail", to="a@example.com").notify(ALERT)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"host": "mail.example.com", "sender": "a@b.c"}, "option 'to' is required"),
        ({"to": "a@b.c", "sender": "a@b.c"}, "no SMTP server: set conn"),
        ({"to": "a@b.c", "host": "mail.example.com"}, "no sender address"),
        ({"to": "a@b.c", "host": "h", "sender": "a@b.c", "channel": "#x"}, "unknown option 'channel'"),
        ({"to": "not an address", "host": "h", "sender": "a@b.c"}, "'not an address' is not an email address"),
        ({"to": "a@b.c", "host": "h", "sender": "a@b.c", "ssl": True, "starttls": True}, "not both"),
        ({"to": "a@b.c", "host": "h", "sender": "a@b.c", "port": "smtp"}, "port: expected a whole number"),
        ({"to": "a@b.c", "host": "h", "sender": "a@b.c", "password": "pw-only-1234"}, "no username"),
        ({"to": "a@b.c", "host": "h", "sender": "a@b.c", "retries": -1}, "'retries' must be"),
        (
            {"to": "a@b.c", "host": "mail.example.com", "sender": "a@b.c", "username": "u", "password": "p4ssw0rd"},
            "refusing to send the login for 'u' to mail.example.com unencrypted",
        ),
    ],
)
def test_bad_options_are_one_clear_config_error(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        EmailNotifier(**options)  # type: ignore[arg-type]
    assert str(raised.value).startswith("notifier 'email': ")
    assert "p4ssw0rd" not in str(raised.value) and "pw-only-1234" not in str(raised.value)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("postgres://u:Secr3t-pw@h/db", "is a postgres:// connection; email needs smtp://"),
        ("smtp://u:Secr3t-pw@h:587?starttls=true&startls=true", "unknown URI option 'startls'"),
        ("smtp://u:Secr3t-pw@h:587?starttls=maybe", "starttls: expected true or false"),
        ("smtp:///?from=a@b.c", "the URI names no host"),
    ],
)
def test_bad_connection_uris_are_one_clear_config_error(
    uri: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWATER_CONN_BADMAIL", uri)
    with pytest.raises(ConfigError, match=message) as raised:
        EmailNotifier(conn="badmail", to="a@b.c")
    assert "connection 'badmail'" in str(raised.value) and "Secr3t-pw" not in str(raised.value)


def test_an_undefined_connection_names_the_variable_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADWATER_CONN_NOWHERE", raising=False)
    with pytest.raises(ConfigError, match="HEADWATER_CONN_NOWHERE"):
        EmailNotifier(conn="nowhere", to="a@b.c")


def test_uri_defaults_ports_by_security() -> None:
    def settings(uri: str) -> SmtpSettings:
        return SmtpSettings.from_connection(Connection.from_uri("m", uri))

    assert settings("smtp://localhost?from=a@b.c").port == 25
    assert settings("smtp://u:Pw-123456@mail.example.com?starttls=true&from=a@b.c").port == 587
    assert settings("smtps://u:Pw-123456@mail.example.com?from=a@b.c").port == 465
    assert settings("smtp://mail.example.com?ssl=true&timeout=2.5").security == "ssl"
    assert settings("smtp://mail.example.com?timeout=2.5").timeout == 2.5
    named = settings("smtp://alerts%40example.com:Pw-123456@localhost?from=Headwater%20<hw@example.com>")
    assert (named.username, named.sender) == ("alerts@example.com", "Headwater <hw@example.com>")


def test_the_plugin_registers_the_notifier_the_operator_and_smtp_connections(smtp: SmtpServer, mail_conn: str) -> None:
    manager = get_manager()
    assert manager.resolve(Kind.NOTIFIER, "email") is EmailNotifier
    assert load_operator("email.send") is EmailOperator
    connect = manager.resolve(Kind.CONNECTION_TYPE, "smtp")
    assert manager.resolve(Kind.CONNECTION_TYPE, "smtps") is connect
    assert callable(connect)
    mailer = connect(get_connection(mail_conn))
    assert isinstance(mailer, SmtpMailer)

    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"], message["To"] = "through ctx.client", "a@example.com"
    message.set_content("hello")
    assert mailer.send(message) == {}
    assert smtp.received[0].subject == "through ctx.client"
