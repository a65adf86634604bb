"""What can go wrong when sending email: permanent errors are never retried, transient ones are."""

from __future__ import annotations

from headwater.plugin import PermanentError


class EmailError(Exception):
    """Base class of the errors this plugin raises while sending email."""


class EmailDeliveryError(EmailError, PermanentError):
    """The server refused the message for good (rejected recipients, 5xx, TLS not trusted): not retried."""


class EmailLoginError(EmailDeliveryError):
    """The SMTP server refused the configured login (wrong user or password): not retried."""


class EmailUnavailableError(EmailError, ConnectionError):
    """The SMTP server could not be reached or asked to try later (refused, timeout, 4xx): retryable."""
