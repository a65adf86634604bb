"""A real SMTP server on loopback (aiosmtpd): plain, STARTTLS + AUTH, or implicit TLS, with a test CA (trustme)."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

REQUIRE_SERVICES = os.environ.get("HEADWATER_REQUIRE_SERVICES") == "1"
USER = "alerts"
#: the login's password: no log line, error, event or result may ever contain it
PASSWORD = "Sw0rdfish-9f3kq!"

try:
    import trustme
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP as SMTPServer  # noqa: N811
    from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

    _MISSING: str | None = None
except ImportError as exc:  # the test extra is not installed
    _MISSING = f"aiosmtpd/trustme are not installed ({exc}): pip install 'headwater-email[test]'"


def _require_stand_in() -> None:
    if _MISSING is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"{_MISSING} (HEADWATER_REQUIRE_SERVICES=1)")
        pytest.skip(_MISSING)


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None

    @property
    def subject(self) -> str:
        """The subject as a mail client shows it (unfolded, outer whitespace trimmed)."""
        return " ".join(str(self.message["Subject"]).split())

    def part(self, subtype: str) -> str:
        """The text of the ``text/<subtype>`` part."""
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None and body.get_content_subtype() == subtype, f"no text/{subtype} part"
        content = body.get_content()
        assert isinstance(content, str)
        return content


@dataclass
class Handler:
    """Collects what the server receives; ``data_replies`` (used up in order) / ``reject_prefix`` make it refuse."""

    received: list[Received] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    reject_prefix: str = "nobody@"
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith(self.reject_prefix):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        with self.lock:
            self.received.append(
                Received(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=message,
                    tls=server.transport.get_extra_info("ssl_object") is not None,
                    login=login if session.authenticated else None,
                )
            )
        return "250 Message accepted for delivery"


class Authenticator:
    """Accepts ``USER``/``PASSWORD`` only; a refusal must be ``handled=False`` or the client hangs."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def __call__(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        self.attempts.append(auth_data.login.decode())
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        return AuthResult(success=True, auth_data=auth_data.login) if ok else AuthResult(success=False, handled=False)


@dataclass
class SmtpServer:
    """A running server: where it listens, what it received, who tried to log in."""

    host: str
    port: int
    handler: Handler
    authenticator: Authenticator
    mode: str

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def uri(self, *, password: str = PASSWORD, sender: str = "headwater@example.com", **query: str) -> str:
        """A connection URI for this server (login included unless the server is plain)."""
        scheme = "smtps" if self.mode == "ssl" else "smtp"
        login = "" if self.mode == "plain" else f"{USER}:{password}@"
        params = {"from": sender, **({"starttls": "true"} if self.mode == "starttls" else {}), **query}
        return f"{scheme}://{login}{self.host}:{self.port}?" + "&".join(f"{k}={v}" for k, v in params.items())


@dataclass(frozen=True)
class Tls:
    """A test CA and a server certificate for 127.0.0.1, as files and as a server context."""

    ca_file: str
    server_context: ssl.SSLContext


def free_port() -> int:
    """A TCP port nothing listens on right now (aiosmtpd cannot bind port 0 and report it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    _require_stand_in()
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return Tls(ca_file=str(ca_file), server_context=context)


@pytest.fixture
def start_smtp(tls: Tls) -> Iterator[Callable[..., SmtpServer]]:
    """Start a server: ``mode`` "plain" (no TLS, no AUTH), "starttls" (STARTTLS and AUTH required) or "ssl"."""
    controllers: list[Any] = []

    def start(mode: str = "starttls", *, data_replies: list[str] | None = None) -> SmtpServer:
        handler = Handler(data_replies=list(data_replies or []))
        authenticator = Authenticator()
        kwargs: dict[str, Any] = {}
        if mode == "starttls":
            kwargs = {
                "tls_context": tls.server_context,
                "require_starttls": True,
                "authenticator": authenticator,
                "auth_required": True,
                "auth_require_tls": True,
            }
        elif mode == "ssl":
            # implicit TLS: aiosmtpd does not count it as TLS for AUTH, so allow AUTH explicitly
            kwargs = {
                "ssl_context": tls.server_context,
                "authenticator": authenticator,
                "auth_require_tls": False,
            }
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs)
        controller.start()
        controllers.append(controller)
        return SmtpServer(host="127.0.0.1", port=port, handler=handler, authenticator=authenticator, mode=mode)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    return free_port()


@pytest.fixture
def smtp(start_smtp: Callable[..., SmtpServer]) -> SmtpServer:
    """A server that requires STARTTLS and a login (the usual port-587 submission setup)."""
    return start_smtp("starttls")


@pytest.fixture
def mail_conn(smtp: SmtpServer, tls: Tls, monkeypatch: pytest.MonkeyPatch) -> str:
    """The connection ``mail`` (``HEADWATER_CONN_MAIL``) pointing at ``smtp``, trusting the test CA."""
    monkeypatch.setenv("HEADWATER_CONN_MAIL", smtp.uri(ca_file=tls.ca_file))
    return "mail"
