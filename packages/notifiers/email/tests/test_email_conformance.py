"""The shared plugin contracts (``headwater.testing.conformance``) held against the email notifier and operator."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from headwater.testing.conformance import NotifierConformance, OperatorConformance
from headwater_email import EmailNotifier, EmailOperator

if TYPE_CHECKING:
    from conftest import SmtpServer


class TestEmailNotifierConformance(NotifierConformance):
    notifier_name = "email"

    @pytest.fixture
    def notifier(self, smtp: SmtpServer, mail_conn: str) -> EmailNotifier:
        return EmailNotifier(conn=mail_conn, to=["oncall@example.com"])

    @pytest.fixture
    def delivered(self, smtp: SmtpServer) -> Callable[[], list[str]]:
        """Each received email as its subject, a blank line and its plain-text body."""
        return lambda: [f"{m.subject}\n\n{m.part('plain')}" for m in smtp.received]


class TestEmailOperatorConformance(OperatorConformance):
    operator_class = EmailOperator
    operator_name = "email.send"

    @pytest.fixture
    def operator_kwargs(self, smtp: SmtpServer, mail_conn: str) -> dict[str, object]:
        return {"conn": mail_conn, "to": "oncall@example.com", "subject": "report {ds}", "body": "hello"}
