"""Send one message over SMTP (smtplib): TLS and login as configured, errors sorted into permanent and transient."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING

from headwater.secrets import mask
from headwater_email.errors import EmailDeliveryError, EmailError, EmailLoginError, EmailUnavailableError
from headwater_email.settings import SmtpSettings, envelope_address

if TYPE_CHECKING:
    from email.message import EmailMessage

    from headwater import Connection


class SmtpMailer:
    """Sends messages through the SMTP server ``settings`` describes; one connection per :meth:`send`.

    Raises :class:`EmailLoginError` / :class:`EmailDeliveryError` (permanent, never retried) or
    :class:`EmailUnavailableError` (a ``ConnectionError``: retried). Messages name the server and
    connection, never the password.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage, *, recipients: Sequence[str] | None = None) -> dict[str, str]:
        """Send ``message`` to ``recipients`` (default: its To, Cc and Bcc headers).

        Its From is the settings' sender when it has none. Returns the recipients the server
        refused (address -> the server's reply) when it accepted the others.
        """
        s = self.settings
        if message["From"] is None:
            if not s.sender:
                raise EmailDeliveryError(f"{s.where}: no sender: set from=... on the connection or a sender option")
            message["From"] = s.sender
        sender = envelope_address(str(message["From"]))
        to_addrs = [envelope_address(a) for a in recipients] if recipients is not None else None
        try:
            with self._connect() as smtp:
                if s.security == "starttls":
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                if s.username:
                    _login(smtp, s.username, s.password or "")
                refused = smtp.send_message(message, from_addr=sender, to_addrs=to_addrs)
        except EmailError:
            raise
        except Exception as exc:
            raise _classify(exc, s) from None
        return {addr: _reply(code, text) for addr, (code, text) in refused.items()}

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._tls_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        smtp.ehlo()
        return smtp

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)


def connect(conn: Connection) -> SmtpMailer:
    """The ``smtp``/``smtps`` connection type: ``ctx.client("mail")`` returns an :class:`SmtpMailer`."""
    return SmtpMailer(SmtpSettings.from_connection(conn))


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """Log in with one mechanism (PLAIN, else LOGIN): a wrong password costs one failed attempt, not one per
    mechanism as ``SMTP.login`` does (servers lock accounts after a few). Other mechanisms: ``SMTP.login``."""
    if not smtp.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    offered = smtp.esmtp_features["auth"].upper().split()
    mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
    if mechanism is None:
        smtp.login(username, password)
        return
    smtp.user, smtp.password = username, password
    authobject = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
    smtp.auth(mechanism, authobject)


def _reply(code: int, text: bytes | str) -> str:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return mask(f"{code} {' '.join(body.split())}".strip())


def _classify(exc: BaseException, s: SmtpSettings) -> EmailError:
    """One clear error for what went wrong: permanent (bad login, rejected, TLS) or transient (network, 4xx)."""
    where = s.where
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return EmailLoginError(
            mask(f"{where} refused the login for user {s.username!r}: {_reply(exc.smtp_code, exc.smtp_error)}")
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        hint = ""
        if "AUTH" in str(exc) and s.security == "none":
            hint = " (many servers offer login only after STARTTLS: set starttls=true)"
        return EmailDeliveryError(mask(f"{where}: {exc}{hint}"))
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = {addr: (code, _reply(code, text)) for addr, (code, text) in exc.recipients.items()}
        listed = "; ".join(f"{addr}: {reply}" for addr, (_, reply) in replies.items())
        message = mask(f"{where} refused every recipient: {listed}")
        if replies and all(400 <= code < 500 for code, _ in replies.values()):
            return EmailUnavailableError(message)
        return EmailDeliveryError(message)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        message = mask(f"{where} refused the sender {exc.sender!r}: {_reply(exc.smtp_code, exc.smtp_error)}")
        return EmailUnavailableError(message) if 400 <= exc.smtp_code < 500 else EmailDeliveryError(message)
    if isinstance(exc, smtplib.SMTPConnectError):
        return EmailUnavailableError(mask(f"{where} did not accept the connection: {exc}"))
    if isinstance(exc, smtplib.SMTPResponseException):
        message = mask(f"{where} answered {_reply(exc.smtp_code, exc.smtp_error)}")
        return EmailUnavailableError(message) if 400 <= exc.smtp_code < 500 else EmailDeliveryError(message)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return EmailUnavailableError(mask(f"{where} closed the connection unexpectedly: {exc}"))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return EmailDeliveryError(
            mask(f"{where}: its TLS certificate is not trusted ({exc.verify_message}); set ca_file to its CA")
        )
    if isinstance(exc, ssl.SSLError):
        return EmailDeliveryError(
            mask(
                f"{where}: TLS failed ({exc.reason or exc}); check the port and ssl/starttls (465: ssl; 587: starttls)"
            )
        )
    if isinstance(exc, ConnectionRefusedError):
        return EmailUnavailableError(mask(f"{where}: connection refused"))
    if isinstance(exc, TimeoutError):
        return EmailUnavailableError(mask(f"{where}: no answer within {s.timeout:g}s"))
    if isinstance(exc, OSError):
        return EmailUnavailableError(mask(f"{where}: {type(exc).__name__}: {exc}"))
    return EmailDeliveryError(mask(f"{where}: {type(exc).__name__}: {exc}"))
