"""headwater-email: alerts as email and an ``email.send`` operator, over SMTP (stdlib smtplib).

Names are imported lazily, so loading the plugin (``headwater_email.plugin``) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "EmailNotifier": "headwater_email.notifier",
    "EmailOperator": "headwater_email.operator",
    "SmtpSettings": "headwater_email.settings",
    "SmtpMailer": "headwater_email.transport",
    "alert_email": "headwater_email.alert_email",
    "EmailError": "headwater_email.errors",
    "EmailDeliveryError": "headwater_email.errors",
    "EmailLoginError": "headwater_email.errors",
    "EmailUnavailableError": "headwater_email.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from headwater_email.alert_email import alert_email as alert_email
    from headwater_email.errors import EmailDeliveryError as EmailDeliveryError
    from headwater_email.errors import EmailError as EmailError
    from headwater_email.errors import EmailLoginError as EmailLoginError
    from headwater_email.errors import EmailUnavailableError as EmailUnavailableError
    from headwater_email.notifier import EmailNotifier as EmailNotifier
    from headwater_email.operator import EmailOperator as EmailOperator
    from headwater_email.settings import SmtpSettings as SmtpSettings
    from headwater_email.transport import SmtpMailer as SmtpMailer


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'headwater_email' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
