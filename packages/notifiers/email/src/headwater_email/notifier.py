"""The ``email`` notifier: every alert as a plain-text + HTML email to the configured recipients."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from headwater import get_connection
from headwater.plugin import Alert, ConfigError
from headwater.secrets import mask
from headwater_email.alert_email import DEFAULT_SUBJECT_PREFIX, alert_email
from headwater_email.errors import EmailUnavailableError
from headwater_email.settings import SmtpSettings, build_settings, parse_addresses
from headwater_email.transport import SmtpMailer

logger = logging.getLogger("headwater_email")

WHAT = "notifier 'email'"


class EmailNotifier:
    """Sends each alert as an email. Built by Headwater with the ``[notifier_options.email]`` options.

    The server comes from the connection ``conn`` (``smtp://user:pass@host:587?starttls=true&from=...``),
    from the options ``host``, ``port``, ``starttls``, ``ssl``, ``username``, ``password``,
    ``sender`` (or ``from``), ``timeout`` and ``ca_file``, or from both (options override the
    connection). ``to`` (and ``cc``, ``bcc``) name the recipients. A transient failure (server
    unreachable, 4xx) is tried again ``retries`` times, ``retry_delay`` seconds apart (waiting with
    ``sleep``, which tests replace), then raised.
    """

    def __init__(
        self,
        *,
        to: str | list[str] | None = None,
        cc: str | list[str] | None = None,
        bcc: str | list[str] | None = None,
        conn: str | None = None,
        host: str | None = None,
        port: int | None = None,
        starttls: bool | None = None,
        ssl: bool | None = None,
        username: str | None = None,
        password: str | None = None,
        sender: str | None = None,
        timeout: float | None = None,
        ca_file: str | None = None,
        subject_prefix: str = DEFAULT_SUBJECT_PREFIX,
        retries: int = 1,
        retry_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        **extra: object,
    ) -> None:
        if "from" in extra:  # `from = "..."` in TOML: a Python keyword, so it arrives here
            if sender is not None:
                raise ConfigError(f"{WHAT}: set one of 'from' and 'sender', not both")
            sender = extra.pop("from")  # type: ignore[assignment]
        if extra:
            raise ConfigError(
                f"{WHAT}: unknown option {sorted(extra)[0]!r} (known: to, cc, bcc, conn, host, port, starttls, ssl, "
                "username, password, sender/from, timeout, ca_file, subject_prefix, retries, retry_delay)"
            )
        if to is None:
            raise ConfigError(f"{WHAT}: option 'to' is required: the addresses alerts go to")
        self.to = parse_addresses(to, f"{WHAT}: to")
        self.cc = parse_addresses(cc, f"{WHAT}: cc") if cc else []
        self.bcc = parse_addresses(bcc, f"{WHAT}: bcc") if bcc else []
        overrides: dict[str, Any] = {
            "host": host,
            "port": port,
            "starttls": starttls,
            "ssl": ssl,
            "username": username,
            "password": password,
            "sender": sender,
            "timeout": timeout,
            "ca_file": ca_file,
        }
        if conn is not None:
            if not isinstance(conn, str) or not conn:
                raise ConfigError(f"{WHAT}: 'conn' must be a connection id, got {conn!r}")
            settings = SmtpSettings.from_connection(get_connection(conn)).with_overrides(what=WHAT, **overrides)
        elif host is None:
            raise ConfigError(
                f'{WHAT}: no SMTP server: set conn = "<id>" (HEADWATER_CONN_<ID>=smtp://user:pass@host:587'
                '?starttls=true&from=...) or host = "..."'
            )
        else:
            settings = build_settings(what=WHAT, **overrides)
        if not settings.sender:
            raise ConfigError(f'{WHAT}: no sender address: set from=... on the connection or sender = "..."')
        if not isinstance(subject_prefix, str):
            raise ConfigError(f"{WHAT}: 'subject_prefix' must be a string")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"{WHAT}: 'retries' must be a whole number >= 0, got {retries!r}")
        if isinstance(retry_delay, bool) or not isinstance(retry_delay, int | float) or retry_delay < 0:
            raise ConfigError(f"{WHAT}: 'retry_delay' must be a number of seconds >= 0, got {retry_delay!r}")
        self.settings = settings
        self.subject_prefix = subject_prefix
        self.retries = retries
        self.retry_delay = float(retry_delay)
        self._sleep = sleep
        self._mailer = SmtpMailer(settings)

    def notify(self, alert: Alert) -> None:
        """Email ``alert``; raise :class:`EmailLoginError`/:class:`EmailDeliveryError` or, after the
        retries, :class:`EmailUnavailableError` when it could not be delivered."""
        assert self.settings.sender is not None
        recipients = [*self.to, *self.cc, *self.bcc]
        for attempt in range(self.retries + 1):
            message = alert_email(
                alert, sender=self.settings.sender, to=self.to, cc=self.cc, subject_prefix=self.subject_prefix
            )
            try:
                refused = self._mailer.send(message, recipients=recipients)
            except EmailUnavailableError as exc:
                if attempt >= self.retries:
                    raise
                logger.warning("email alert not sent (%s); trying again in %gs", mask(str(exc)), self.retry_delay)
                self._sleep(self.retry_delay)
                continue
            if refused:
                listed = "; ".join(f"{addr}: {reply}" for addr, reply in refused.items())
                logger.warning(
                    "email alert %r: %s refused some recipients: %s", message["Subject"], self._where, listed
                )
            return

    @property
    def _where(self) -> str:
        return self.settings.where

    def __repr__(self) -> str:
        return f"<EmailNotifier to={', '.join(self.to)} via {self.settings.where}>"
